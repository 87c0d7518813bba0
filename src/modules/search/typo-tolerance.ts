/**
 * Typo tolerance per word, by the rule Meilisearch and Typesense use: a word of 5 letters or
 * more may have one typo, a word of 9 or more two; shorter words must be exact. A typo is one
 * letter inserted, deleted, replaced, or two neighbours swapped (optimal string alignment
 * distance). The database only proposes candidates (by trigrams, see the repository); whether
 * a title really matches is decided here, word by word, so a long query is not judged by the
 * similarity of the whole string (where "quantm entanglment" scores 0.58 against "Quantum
 * entanglement", under any sensible threshold, although each word has a single typo).
 */

const WORD = /[\p{L}\p{N}]+/gu;

/** Lower-case words of a text, in order. */
export const wordsOf = (text: string): string[] => text.toLowerCase().match(WORD) ?? [];

/** How many typos a query word may have. */
export function typoBudget(word: string): number {
  const length = [...word].length;
  if (length >= 9) return 2;
  if (length >= 5) return 1;
  return 0;
}

/**
 * Optimal string alignment distance between `a` and `b`, or `max + 1` as soon as it is known
 * to exceed `max` (the budget is at most 2, so most pairs stop after a row or two).
 */
export function typoDistance(a: string, b: string, max: number): number {
  const s = [...a];
  const t = [...b];
  if (Math.abs(s.length - t.length) > max) return max + 1;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let value = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        value = Math.min(value, (beforePrevious[j - 2] as number) + 1);
      }
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > max) return max + 1;
    beforePrevious = previous;
    previous = current;
  }
  const distance = previous[t.length] as number;
  return distance > max ? max + 1 : distance;
}

/**
 * The fewest typos with which `word` matches one of `titleWords`, or undefined when none is
 * within the word's budget. `asPrefix`: the word may be the start of a title word (the last
 * word of a suggestion query, still being typed).
 */
export function closestTypos(word: string, titleWords: string[], asPrefix: boolean): number | undefined {
  const budget = typoBudget(word);
  const length = [...word].length;
  let best: number | undefined;
  for (const candidate of titleWords) {
    if (candidate === word || (asPrefix && candidate.startsWith(word))) return 0;
    if (budget === 0) continue;
    let distance = typoDistance(word, candidate, budget);
    if (asPrefix) {
      // A prefix with typos: compare with the title word's starts of nearby lengths.
      const letters = [...candidate];
      for (let cut = length - budget; cut <= length + budget; cut++) {
        if (cut < 1 || cut >= letters.length) continue;
        distance = Math.min(distance, typoDistance(word, letters.slice(0, cut).join(""), budget));
      }
    }
    if (distance <= budget && (best === undefined || distance < best)) best = distance;
  }
  return best;
}

/**
 * Total typos with which every word of the query is found among the title's words, or
 * undefined when one is not. The last query word may be a prefix when `lastIsPrefix`.
 */
export function titleTypos(queryWords: string[], title: string, lastIsPrefix: boolean): number | undefined {
  const titleWords = wordsOf(title);
  let total = 0;
  for (const [index, word] of queryWords.entries()) {
    const typos = closestTypos(word, titleWords, lastIsPrefix && index === queryWords.length - 1);
    if (typos === undefined) return undefined;
    total += typos;
  }
  return total;
}

/**
 * A suggestion that matched with typos scores below every prefix match (1 and 0.9): 0.85 with
 * every word exact but not as a prefix of the title, 0.05 less per typo, never under 0.6.
 */
export const typoScore = (typos: number): number =>
  Math.max(0.6, Math.round((0.85 - 0.05 * typos) * 100) / 100);

/**
 * The query with each word that no candidate title has, but one has within the word's typo
 * budget, replaced by that closest word (the most common among the candidates on a tie);
 * undefined when nothing changes. Words after a `-` (exclusions) are left alone.
 */
export function correctQuery(query: string, candidateTitles: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const title of candidateTitles) {
    for (const word of new Set(wordsOf(title))) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  let changed = false;
  const corrected = query.replace(WORD, (original, offset: number) => {
    const word = original.toLowerCase();
    const budget = typoBudget(word);
    if (budget === 0 || counts.has(word) || query[offset - 1] === "-") return original;
    let best: { word: string; distance: number; count: number } | undefined;
    for (const [candidate, count] of counts) {
      const distance = typoDistance(word, candidate, budget);
      if (distance > budget) continue;
      if (!best || distance < best.distance || (distance === best.distance && count > best.count)) {
        best = { word: candidate, distance, count };
      }
    }
    if (!best) return original;
    changed = true;
    return best.word;
  });
  return changed ? corrected : undefined;
}
