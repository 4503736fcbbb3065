import { repoAnswer } from "$lib/answer";
import type { RequestHandler } from "./$types";

export const GET: RequestHandler = (event) => repoAnswer(event);
