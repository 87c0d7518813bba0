/**
 * The roles an account can have. Kept here, below both the database schema (platform) and
 * the auth module, so the schema can type its `role` column without importing a module.
 */
export type Role = "user" | "admin";
