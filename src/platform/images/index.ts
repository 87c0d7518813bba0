export * from "./images.js";
export { createSharpImageProcessor } from "./sharp-images.js";
