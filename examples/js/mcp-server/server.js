// A minimal MCP server (streamable HTTP, stateless) guarded by Kavach. Clients come with a
// Kavach OAuth access token for this server (MCP clients find the authorization server from
// the 401's resource_metadata and run the flow themselves) or with an agent token, kv_…. Every
// tools/call is authorized as "call" on mcp:github:<tool> with the tool's arguments; a refusal
// is a JSON-RPC error -31403 whose data is the decision; tools/list shows only the tools the
// agent may call. The tools never see the token.
import { createServer } from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { callerOf, kavachMcp } from "@kavach/sdk/mcp";
import { z } from "zod";

const { KAVACH_URL, KAVACH_API_KEY } = process.env;
if (!KAVACH_URL || !KAVACH_API_KEY) {
  console.error("set KAVACH_URL (e.g. http://127.0.0.1:8080) and KAVACH_API_KEY (an app key, kva_…)");
  process.exit(2);
}
const issuer = process.env.KAVACH_ISSUER ?? `${KAVACH_URL}/oauth`;
const resource = process.env.MCP_URL ?? "http://127.0.0.1:9090/mcp";

const mcp = kavachMcp({
  resource, // this server's URL: the audience of its tokens
  server: "github", // tool calls are mcp:github:<tool>
  issuer,
  kavach: { url: KAVACH_URL, apiKey: KAVACH_API_KEY },
  agentTokens: true,
});

// A fresh server per request: the transport is stateless.
function buildServer() {
  const server = new McpServer({ name: "github-example", version: "1.0.0" });
  const text = (t) => ({ content: [{ type: "text", text: t }] });
  server.registerTool(
    "list_repos",
    { description: "Lists an organization's repositories", inputSchema: { org: z.string() } },
    async ({ org }, extra) => text(`${org}/site, ${org}/api (asked by ${callerOf(extra.authInfo)?.agentId})`),
  );
  server.registerTool(
    "merge_pr",
    { description: "Merges a pull request", inputSchema: { repo: z.string(), pr: z.number() } },
    async ({ repo, pr }) => text(`merged ${repo}#${pr}`),
  );
  server.registerTool(
    "delete_repo",
    { description: "Deletes a repository (this example deletes nothing)", inputSchema: { repo: z.string() } },
    async ({ repo }) => text(`deleted ${repo}`),
  );
  return server;
}

const url = new URL(resource);
createServer(mcp.handler(buildServer)).listen(Number(url.port || 80), url.hostname, () => {
  console.log(`MCP server: ${resource}`);
  console.log(`authorization server: ${issuer}`);
});
