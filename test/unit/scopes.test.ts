import { expect, it } from "vitest";
import { grantScopes, stillAllowed } from "../../src/modules/auth/scopes.js";
import { BadRequestError } from "../../src/shared/errors.js";

it("grants every scope of the role when none are asked for", () => {
  expect(grantScopes("user", undefined)).toEqual(["posts:write", "files:write", "transfers:write"]);
  expect(grantScopes("admin", "")).toContain("admin");
});

it("narrows to what was asked, once each", () => {
  expect(grantScopes("user", "posts:write  posts:write files:write")).toEqual(["posts:write", "files:write"]);
});

it("refuses unknown scopes and scopes above the role", () => {
  expect(() => grantScopes("user", "admin")).toThrow(BadRequestError);
  expect(() => grantScopes("admin", "root")).toThrow(BadRequestError);
});

it("drops scopes a demoted user no longer has", () => {
  expect(stillAllowed("user", ["admin", "posts:write", "junk"])).toEqual(["posts:write"]);
});
