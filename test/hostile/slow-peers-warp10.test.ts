import { slowPeerMatrix } from "./slow-peers.js";

slowPeerMatrix("warp10");
