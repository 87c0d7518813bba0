import { BadRequestError, NotFoundError } from "../../http/errors.js";
import { violatedUniqueConstraint } from "../../shared/db-errors.js";
import type { PasswordHasher } from "../auth/password-hasher.js";
import type { User, UsersRepository } from "./users.repository.js";
import type { UserCreate } from "./users.schemas.js";

export interface UsersServiceDeps {
  usersRepository: UsersRepository;
  passwordHasher: PasswordHasher;
}

export function createUsersService({ usersRepository, passwordHasher }: UsersServiceDeps) {
  return {
    /** Sign-up: hash the password, insert, and turn a duplicate into the contract's 400s. */
    async registerUser(input: UserCreate): Promise<User> {
      const passwordHash = await passwordHasher.hash(input.password);
      try {
        return await usersRepository.insert({
          email: input.email.trim(),
          username: input.username,
          passwordHash,
        });
      } catch (error) {
        const constraint = violatedUniqueConstraint(error);
        if (constraint === "users_email_lower_key") {
          throw new BadRequestError("email_taken", "Email already registered");
        }
        if (constraint === "users_username_key") {
          throw new BadRequestError("username_taken", "Username already taken");
        }
        throw error;
      }
    },

    async getUser(id: number): Promise<User> {
      const user = await usersRepository.findById(id);
      if (!user) throw new NotFoundError(`User ${id} not found`, "user_not_found");
      return user;
    },
  };
}

export type UsersService = ReturnType<typeof createUsersService>;
