import { ensurePackages } from "../../scripts/ensure-packages";

export default function setup(): void {
  ensurePackages();
}
