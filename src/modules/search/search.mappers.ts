import { toPostResponse } from "../posts/posts.mappers.js";
import type { SearchHit } from "./search.service.js";

/** A search hit: the post as the posts API shows it, with its highlight and rank. */
export const toSearchHitResponse = (hit: SearchHit) => ({
  ...toPostResponse(hit),
  highlight: hit.highlight,
  rank: hit.rank,
});
