import { guard, answer } from "../../../lib/kavach";

export const GET = guard.withKavach<{ id: string }>(async (request, { params }, decision) => {
  const { id } = await params;
  if (!id) throw new Error("no id");
  return answer(request, decision);
}, { route: "/repos/[id]" });
