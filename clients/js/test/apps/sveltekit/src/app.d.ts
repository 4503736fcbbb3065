import type { Decision } from "@kavach/sdk";

declare global {
  namespace App {
    interface Locals {
      kavach?: Decision;
      laterSawAuthorization?: boolean;
    }
  }
}

export {};
