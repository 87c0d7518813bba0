import { describe, expect, it, vi } from "vitest";
import type { PasswordHasher } from "../../src/modules/auth/password-hasher.js";
import type { User, UsersRepository } from "../../src/modules/users/users.repository.js";
import { createUsersService } from "../../src/modules/users/users.service.js";
import { welcomeEmailJob } from "../../src/modules/users/welcome-email.job.js";
import { BadRequestError, NotFoundError } from "../../src/shared/errors.js";

const aUser = (overrides: Partial<User> = {}): User => ({
  id: 1,
  email: "john@example.com",
  username: "john",
  passwordHash: "hash",
  role: "user",
  isActive: true,
  tokenVersion: 0,
  balance: 0,
  emailVerifiedAt: null,
  deletedAt: null,
  passwordChangedAt: null,
  createdAt: new Date("2026-01-01T00:00:00Z"),
  updatedAt: new Date("2026-01-01T00:00:00Z"),
  ...overrides,
});

function fakes() {
  const usersRepository = {
    insert: vi.fn(),
    findById: vi.fn(),
    findAccountById: vi.fn(),
    findByLogin: vi.fn(),
    findByEmail: vi.fn(),
    update: vi.fn(),
    updateKeepingAnAdmin: vi.fn(),
    listAfter: vi.fn(),
  } satisfies UsersRepository;
  const passwordHasher = {
    hash: vi.fn(async (password: string) => `hashed:${password}`),
    verify: vi.fn(),
    needsRehash: vi.fn(() => false),
  } satisfies PasswordHasher;
  return {
    usersRepository,
    passwordHasher,
    service: createUsersService({ usersRepository, passwordHasher }),
  };
}

const uniqueViolation = (constraint: string) =>
  Object.assign(new Error("wrapped"), {
    cause: Object.assign(new Error("dup"), { code: "23505", constraint }),
  });

describe("usersService (fake ports)", () => {
  it("getUser returns what the repository found — the repository call is replaced and asserted", async () => {
    const { service, usersRepository } = fakes();
    usersRepository.findById.mockResolvedValue(aUser({ email: "mocked@example.com" }));
    const user = await service.getUser(1);
    expect(user.email).toBe("mocked@example.com");
    expect(usersRepository.findById).toHaveBeenCalledExactlyOnceWith(1);
  });

  it("getUser throws NotFound for an unknown id", async () => {
    const { service, usersRepository } = fakes();
    usersRepository.findById.mockResolvedValue(undefined);
    await expect(service.getUser(7)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("registerUser stores the hash, never the password, and trims the email", async () => {
    const { service, usersRepository, passwordHasher } = fakes();
    usersRepository.insert.mockImplementation(async (row) => aUser(row));
    await service.registerUser({ email: " ann@example.com ", username: "ann", password: "SecurePass123" });
    expect(passwordHasher.hash).toHaveBeenCalledWith("SecurePass123");
    expect(usersRepository.insert).toHaveBeenCalledWith(
      { email: "ann@example.com", username: "ann", passwordHash: "hashed:SecurePass123" },
      welcomeEmailJob,
    );
  });

  it.each([
    ["users_email_lower_key", "email_taken", /already registered/],
    ["users_username_key", "username_taken", /already taken/],
  ])("maps a violation of %s to 400 %s", async (constraint, code, detail) => {
    const { service, usersRepository } = fakes();
    usersRepository.insert.mockRejectedValue(uniqueViolation(constraint));
    const error = await service
      .registerUser({ email: "a@b.co", username: "abc", password: "Unrelated-Pass-1" })
      .catch((e) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ status: 400, code });
    expect(error.message).toMatch(detail);
  });

  it("lets other database errors through untouched", async () => {
    const { service, usersRepository } = fakes();
    const boom = new Error("connection lost");
    usersRepository.insert.mockRejectedValue(boom);
    await expect(
      service.registerUser({ email: "a@b.co", username: "abc", password: "Unrelated-Pass-1" }),
    ).rejects.toBe(boom);
  });
});
