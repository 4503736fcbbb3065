import { guard } from "./lib/kavach";

export const proxy = guard.proxy;

export const config = { matcher: "/proxied/:path*" };
