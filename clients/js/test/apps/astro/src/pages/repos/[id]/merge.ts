import type { APIRoute } from "astro";
import { repoAnswer } from "../../../lib/answer";

export const POST: APIRoute = (context) => repoAnswer(context);
