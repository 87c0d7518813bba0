import type { ReadThroughCache } from "../../platform/cache/read-through.js";
import type { Profile, UsersService } from "./users.service.js";

export const profileKey = (id: number) => `profile:${id}`;

/**
 * The users service with profiles cached. Changes to an account invalidate its profile
 * after they commit; a new username also reaches the posts that show it (`onRenamed`).
 */
export function withUsersCache(
  service: UsersService,
  cache: ReadThroughCache,
  onRenamed: (userId: number) => Promise<void>,
): UsersService {
  return {
    ...service,

    getProfile: (id) =>
      cache.get(
        profileKey(id),
        () => service.getProfile(id),
        (profile: Profile) => ({
          ...profile,
          createdAt: new Date(profile.createdAt),
        }),
      ) as Promise<Profile>,

    async updateOwnAccount(userId, sessionId, input, log, address) {
      const user = await service.updateOwnAccount(userId, sessionId, input, log, address);
      await cache.invalidate(profileKey(userId));
      if (input.username !== undefined) await onRenamed(userId);
      return user;
    },

    async adminUpdateUser(actorId, userId, input, log) {
      const user = await service.adminUpdateUser(actorId, userId, input, log);
      await cache.invalidate(profileKey(userId));
      return user;
    },
  };
}
