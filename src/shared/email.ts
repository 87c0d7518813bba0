import addFormats from "ajv-formats";

// The same check as the API's `format: "email"` (ajv-formats, full mode, as the request validator uses), so an address the
// command line accepts is one the API accepts too.
const emailFormat = addFormats.default.get("email", "full") as RegExp;

export function isEmail(value: string): boolean {
  return value.length <= 320 && emailFormat.test(value);
}
