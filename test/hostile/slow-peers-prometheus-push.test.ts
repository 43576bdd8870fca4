import { slowPeerMatrix } from "./slow-peers.js";

slowPeerMatrix("prometheus-push");
