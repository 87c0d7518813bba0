import type { FastifyInstance } from "fastify";
import { newUser } from "./test-app.js";

export interface Session {
  id: number;
  email: string;
  username: string;
  password: string;
  access: string;
  refresh: string;
}

export async function login(app: FastifyInstance, username: string, password: string, scope?: string) {
  return app.inject({
    method: "POST",
    url: "/api/v1/auth/token",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ username, password, ...(scope ? { scope } : {}) }).toString(),
  });
}

/** Signs up a fresh user and logs in; returns the tokens too. */
export async function signUpAndLogin(app: FastifyInstance, scope?: string): Promise<Session> {
  const body = newUser();
  const created = await app.inject({ method: "POST", url: "/api/v1/users", payload: body });
  if (created.statusCode !== 201) throw new Error(`sign-up failed: ${created.body}`);
  const res = await login(app, body.email, body.password, scope);
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
  const tokens = res.json();
  return { ...body, id: created.json().id, access: tokens.access_token, refresh: tokens.refresh_token };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
