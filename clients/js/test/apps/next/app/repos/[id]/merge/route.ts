import { decisionOf } from "@kavach/sdk/next";
import { guard, answer } from "../../../../lib/kavach";

export const POST = guard.withKavach<{ id: string }>(async (request) => {
  const decision = decisionOf(request);
  if (!decision) throw new Error("decisionOf found no decision");
  return answer(request, decision);
}, { route: "/repos/[id]/merge" });
