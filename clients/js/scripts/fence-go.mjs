// Some npm packages ship Go sources (next ships a Go proxy). A go.mod at the top of
// node_modules makes it a module of its own, so `go test ./...` and `go vet ./...` at the
// repository's root never build what npm installed.
import { existsSync, writeFileSync } from "node:fs";

if (existsSync("node_modules")) {
  writeFileSync("node_modules/go.mod", "module kavach.invalid/clients/js/node_modules\n\ngo 1.22\n");
}
