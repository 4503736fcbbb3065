declare namespace App {
  interface Locals {
    kavach?: import("@kavach/sdk").Decision;
    laterSawAuthorization?: boolean;
  }
}
