import { slowPeerMatrix } from "./slow-peers.js";

slowPeerMatrix("riemann");
