import { repoAnswer } from "../../utils/answer";

export default defineEventHandler((event) => repoAnswer(event));
