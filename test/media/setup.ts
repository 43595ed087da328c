import { networkInterfaces } from "node:os";
import { NETNS_INTERFACE } from "../../scripts/in-netns";

/** Media tests need the namespace's veth interface: run them with `npm run test:media`. */
export default function setup(): void {
  if (!networkInterfaces()[NETNS_INTERFACE]) {
    throw new Error(
      `no ${NETNS_INTERFACE} interface: ` +
        "run the media tier with `npm run test:media` (it creates a network namespace)",
    );
  }
}
