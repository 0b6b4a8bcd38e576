// Pages with the sidebar but no chat (home).
import { initSidebar } from "./sidebar.js";

initSidebar();
