// Accounts made through the API: what the write and transfer benchmarks sign in as.

/** One API call; throws on a non-2xx answer, returns the parsed JSON body (if any). */
export async function api(base, method, path, { token, body, form, headers = {} } = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: form ? new URLSearchParams(form) : body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * `count` accounts (bench-0@example.com, …) signed up through the API, each funded with
 * `openingBalance` credits by the admin (`admin`: { email, password }, the server's ADMIN_EMAIL
 * and ADMIN_PASSWORD) and signed in: [{ id, token }].
 */
export async function createAccounts(base, { count, admin, openingBalance }) {
  const adminToken = (
    await api(base, "POST", "/api/v1/auth/token", {
      form: { username: admin.email, password: admin.password },
    })
  ).access_token;
  const accounts = [];
  for (let i = 0; i < count; i++) {
    const credentials = {
      email: `bench-${i}@example.com`,
      username: `bench_${i}`,
      password: "bench-password",
    };
    const { id } = await api(base, "POST", "/api/v1/users", { body: credentials });
    await api(base, "POST", "/api/v1/admin/credits", {
      token: adminToken,
      body: { user_id: id, amount: openingBalance },
    });
    const { access_token } = await api(base, "POST", "/api/v1/auth/token", {
      form: { username: credentials.email, password: credentials.password },
    });
    accounts.push({ id, token: access_token });
  }
  return accounts;
}
