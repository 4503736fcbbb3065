import { repoAnswer } from "$lib/answer";
import type { RequestHandler } from "./$types";

export const POST: RequestHandler = (event) => repoAnswer(event);
