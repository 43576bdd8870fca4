// A man page (section 1) from a commander program's own help: one source for --help and man.
import { execFileSync } from "node:child_process";

/** Escapes a line of help text for roff, inside .nf. */
const roff = (line) => line.replace(/\\/g, "\\e").replace(/^([.'])/, "\\&$1");

function commandsOf(cmd, path) {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()], cmd: c }, ...commandsOf(c, [...path, c.name()])]);
}

function helpOf(cmd) {
  cmd.configureHelp({ helpWidth: 78 });
  return cmd.helpInformation().trimEnd().split("\n").map(roff).join("\n");
}

/**
 * The page: NAME from the program's description, its help as DESCRIPTION, each command's help under
 * COMMANDS, then `extra` sections ({ title, text } of plain text).
 */
export function manPage(program, { version, date, extra = [] }) {
  const name = program.name();
  const summary = program.description().split(/(?<=\.)\s/)[0].replace(/\.$/, "");
  const section = (title, body) => `.SH ${title}\n.nf\n${body}\n.fi`;
  return [
    `.TH "${name.toUpperCase()}" "1" "${date}" "scaph ${version}" "User Commands"`,
    ".SH NAME",
    `${name.replace(/-/g, "\\-")} \\- ${roff(summary)}`,
    ".SH SYNOPSIS",
    `.B ${name.replace(/-/g, "\\-")}`,
    ".RI [ options ] \" command \" [ options ]",
    section("DESCRIPTION", helpOf(program)),
    ".SH COMMANDS",
    ...commandsOf(program, [name]).map(({ path, cmd }) => `.SS "${path.join(" ")}"\n.nf\n${helpOf(cmd)}\n.fi`),
    ...extra.map((e) => section(e.title.toUpperCase(), e.text.trimEnd().split("\n").map(roff).join("\n"))),
  ].join("\n") + "\n";
}

/** The date of the last commit (reproducible pages), else today. */
export function sourceDate(repo) {
  if (process.env.SOURCE_DATE_EPOCH) return new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000).toISOString().slice(0, 10);
  try {
    return execFileSync("git", ["-C", repo, "log", "-1", "--format=%cs"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return new Date().toISOString().slice(0, 10);
  }
}
