import { describe, expect, it } from "vitest";
import {
  correctQuery,
  titleTypos,
  typoBudget,
  typoDistance,
  typoScore,
} from "../../src/modules/search/typo-tolerance.js";

describe("typo budget per word", () => {
  it.each([
    ["cat", 0],
    ["code", 0],
    ["world", 1],
    ["quantum", 1],
    ["entangle", 1],
    ["kubernetes", 2],
    ["entanglement", 2],
  ])("%s may have %i typos", (word, budget) => {
    expect(typoBudget(word)).toBe(budget);
  });
});

describe("typo distance", () => {
  it.each([
    ["world", "world", 0],
    ["wrld", "world", 1], // missing
    ["woorld", "world", 1], // added
    ["wxrld", "world", 1], // replaced
    ["wolrd", "world", 1], // neighbours swapped
    ["owrld", "world", 1],
    ["wlord", "world", 2],
    ["entanglment", "entanglement", 1],
    ["entanglemnet", "entanglement", 1],
    ["entnaglmeent", "entanglement", 2],
  ])("%s → %s is %i", (a, b, distance) => {
    expect(typoDistance(a, b, 2)).toBe(distance);
  });

  it("stops past the budget", () => {
    expect(typoDistance("abcdef", "uvwxyz", 1)).toBe(2);
    expect(typoDistance("ab", "abcdefgh", 2)).toBe(3);
  });
});

const TITLE = "Quantum entanglement explained";

describe("titles matched word by word", () => {
  it.each([
    // [query, typos] — every word within its own budget, in any order
    ["quantum entanglement", 0],
    ["quantm entanglment", 2],
    ["qunatum entanglemnet", 2],
    ["quantum entnaglmeent", 2],
    ["entanglment quantm", 2],
    ["explaned quantum", 1],
    ["quantm entangl", 1], // the last word is still being typed
    ["quantum entanlg", 1], // … with a typo in what is typed so far
  ])("%s matches with %i typos", (query, typos) => {
    expect(titleTypos(query.split(" "), TITLE, true)).toBe(typos);
  });

  it.each([
    ["quatnm entanglement"], // two typos in a seven-letter word
    ["quantum entnaglmeentx"], // three in a twelve-letter one
    ["quantum entanglement physics"], // a word the title does not have
    ["exp quantum"], // a short word is a prefix only when it is the last one
  ])("%s does not match", (query) => {
    expect(titleTypos(query.split(" "), TITLE, true)).toBeUndefined();
  });

  it("keeps short words exact", () => {
    expect(titleTypos(["cat"], "A cut above", false)).toBeUndefined();
    expect(titleTypos(["cut"], "A cut above", false)).toBe(0);
  });

  it("scores below prefix matches, lower with more typos, never under 0.6", () => {
    expect(typoScore(0)).toBe(0.85);
    expect(typoScore(1)).toBe(0.8);
    expect(typoScore(2)).toBe(0.75);
    expect(typoScore(20)).toBe(0.6);
  });
});

describe("did you mean", () => {
  const titles = [TITLE, "Quantum computing for beginners", "Entanglement in practice"];

  it("corrects misspelt words from the titles and keeps the rest of the query", () => {
    expect(correctQuery("quantm entanglment", titles)).toBe("quantum entanglement");
    expect(correctQuery('"quantm computng" -entanglment', titles)).toBe('"quantum computing" -entanglment');
  });

  it("changes nothing when every word is known, short, or too far", () => {
    expect(correctQuery("quantum entanglement", titles)).toBeUndefined();
    expect(correctQuery("qubit", titles)).toBeUndefined();
    expect(correctQuery("kvantum", titles)).toBeUndefined();
  });
});
