import type { APIRoute } from "astro";
import { repoAnswer } from "../../lib/answer";

export const GET: APIRoute = (context) => repoAnswer(context);
