//! The one list (scripts/requirements.txt) names every program piimage's code and scripts run:
//! a program started with `std::process::Command` in any Rust source of the workspace, or
//! called by any of our shell scripts (parsed by shfmt, not guessed at with patterns), that no
//! row provides fails this test. Programs the scripts run *inside* the arm64 chroot (after
//! `chroot`) are the base's own, not this machine's, and are not counted; nor are strings
//! handed to `sh -c`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use host::list::Provides;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn listed() -> BTreeSet<String> {
    host::list::requirements()
        .unwrap()
        .iter()
        .flat_map(|r| r.provides.iter())
        .filter_map(|p| match p {
            Provides::Program(name) => Some(name.clone()),
            Provides::Binfmt(_) | Provides::File(_) => None,
        })
        .collect()
}

/// Programs not from Debian's packages, and why.
const NOT_FROM_APT: &[(&str, &str)] =
    &[("cargo", "the Rust toolchain (rustup); install.sh checks it")];

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if matches!(
            name.to_str(),
            Some("target" | "vendor" | ".git" | "rootfs" | "inventories")
        ) {
            // rootfs/ (the built-in base's files) and inventories/ (files bake puts on
            // cards) hold programs that run on the Pi, not here.
            continue;
        }
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

fn shell_scripts() -> Vec<PathBuf> {
    let mut out = vec![repo().join(".ci/run")];
    files_under(
        &repo(),
        &|p| p.extension().is_some_and(|e| e == "sh"),
        &mut out,
    );
    out.sort();
    out
}

fn rust_sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    files_under(
        &repo(),
        &|p| p.extension().is_some_and(|e| e == "rs"),
        &mut out,
    );
    out.sort();
    out
}

/// `Command::new(...)` arguments that are not a program name, each with why it is ours.
const OWN_PROGRAMS: &[(&str, &str)] = &[
    ("env!(\"CARGO_BIN_EXE_piimage\")", "piimage itself"),
    ("piimage", "piimage itself (benches hold its path)"),
    (
        "dir.path().join(\"index.sh\")",
        "the recipe's own script, scanned as a script",
    ),
    (
        "recipe_dir.join(\"bootstrap.sh\")",
        "the recipe's own script, scanned as a script",
    ),
    (
        "recipe_dir.join(\"assemble.sh\")",
        "the recipe's own script, scanned as a script",
    ),
];

/// Every program a Rust file starts, resolving `Command::new(NAME)` through `const NAME`.
fn rust_programs(path: &Path, text: &str, unknown: &mut Vec<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("Command::new(") {
        let rest = &text[at + "Command::new(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let arg = rest[..end].trim();
        if let Some(lit) = arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
            found.insert(lit.to_string());
        } else if arg.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            let decl = format!("const {arg}: &str = \"");
            match text.find(&decl) {
                Some(i) => {
                    let value = &text[i + decl.len()..];
                    found.insert(value[..value.find('"').unwrap()].to_string());
                }
                None => unknown.push(format!("{}: Command::new({arg})", path.display())),
            }
        } else if !OWN_PROGRAMS.iter().any(|(form, _)| *form == arg) {
            unknown.push(format!("{}: Command::new({arg})", path.display()));
        }
    }
    found
}

const BUILTINS: &[&str] = &[
    "[",
    ".",
    ":",
    "break",
    "cd",
    "command",
    "continue",
    "declare",
    "echo",
    "eval",
    "exec",
    "exit",
    "export",
    "false",
    "getopts",
    "hash",
    "kill",
    "let",
    "local",
    "mapfile",
    "pwd",
    "read",
    "readarray",
    "return",
    "set",
    "shift",
    "source",
    "test",
    "trap",
    "true",
    "type",
    "unset",
    "wait",
];
/// Commands that run the program named by their first operand.
const WRAPPERS: &[&str] = &["xargs", "exec", "command", "env", "nice", "timeout", "sudo"];

/// A word that is one literal, unquoted or quoted.
fn literal(word: &serde_json::Value) -> Option<String> {
    let parts = word.get("Parts")?.as_array()?;
    let mut text = String::new();
    for part in parts {
        match part.get("Type")?.as_str()? {
            "Lit" | "SglQuoted" => text += part.get("Value")?.as_str()?,
            "DblQuoted" => text += &literal(part)?,
            _ => return None,
        }
    }
    Some(text)
}

/// The name of a word that is only `"${NAME[@]}"` or `$NAME`.
fn expansion(word: &serde_json::Value) -> Option<String> {
    let mut part = word.get("Parts")?.as_array()?.first()?;
    if part.get("Type")?.as_str()? == "DblQuoted" {
        part = part.get("Parts")?.as_array()?.first()?;
    }
    (part.get("Type")?.as_str()? == "ParamExp").then(|| {
        part.get("Param")?
            .get("Value")?
            .as_str()
            .map(str::to_string)
    })?
}

fn walk(
    node: &serde_json::Value,
    functions: &mut BTreeSet<String>,
    calls: &mut Vec<(String, u64)>,
) {
    match node {
        serde_json::Value::Array(items) => {
            for item in items {
                walk(item, functions, calls);
            }
        }
        serde_json::Value::Object(map) => {
            match map.get("Type").and_then(|t| t.as_str()) {
                Some("FuncDecl") => {
                    if let Some(name) = map
                        .get("Name")
                        .and_then(|n| n.get("Value"))
                        .and_then(|v| v.as_str())
                    {
                        functions.insert(name.to_string());
                    }
                }
                Some("CallExpr") => {
                    if let Some(args) = map.get("Args").and_then(|a| a.as_array()) {
                        let line = map["Pos"]["Line"].as_u64().unwrap_or(0);
                        let mut i = 0;
                        // "${as_root[@]}" CMD: sudo, or nothing as root.
                        if args.first().and_then(expansion).as_deref() == Some("as_root") {
                            i = 1;
                        }
                        while let Some(name) = args.get(i).and_then(literal) {
                            if name == "chroot" {
                                // What follows runs inside the image being built.
                                calls.push((name, line));
                                break;
                            }
                            calls.push((name.clone(), line));
                            if !WRAPPERS.contains(&name.as_str()) {
                                break;
                            }
                            // The wrapped program: the next operand that is not an option
                            // (or, for env, an assignment).
                            i += 1;
                            while args
                                .get(i)
                                .and_then(literal)
                                .is_some_and(|w| w.starts_with('-') || w.contains('='))
                            {
                                i += 1;
                            }
                        }
                    }
                }
                _ => {}
            }
            for value in map.values() {
                walk(value, functions, calls);
            }
        }
        _ => {}
    }
}

/// The programs a script calls, and the functions it defines.
fn script_programs(path: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    // shfmt reads a tree to print as JSON from stdin only.
    let script = std::fs::File::open(path).unwrap();
    let out = Command::new("shfmt")
        .args(["--language-dialect", "bash", "--to-json"])
        .stdin(script)
        .output()
        .expect("shfmt runs (scripts/install.sh installs it)");
    assert!(
        out.status.success(),
        "shfmt cannot parse {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let tree: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (mut functions, mut calls) = (BTreeSet::new(), Vec::new());
    walk(&tree, &mut functions, &mut calls);
    let programs = calls
        .into_iter()
        .map(|(name, _)| name)
        .filter(|n| !BUILTINS.contains(&n.as_str()))
        .filter(|n| !n.starts_with("./") && !n.contains('$'))
        .collect();
    (programs, functions)
}

#[test]
fn every_program_the_code_and_scripts_run_is_on_the_list() {
    let listed = listed();
    let mut unlisted = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = 0;
    // This file names `Command::new(` in its own strings; it runs only shfmt, which is listed.
    for path in rust_sources()
        .into_iter()
        .filter(|p| !p.ends_with("tests/requirements.rs"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        for program in rust_programs(&path, &text, &mut unknown) {
            seen += 1;
            if !listed.contains(&program) {
                unlisted.push(format!("{}: runs `{program}`", path.display()));
            }
        }
    }
    let scripts = shell_scripts();
    assert!(scripts.len() >= 8, "{scripts:?}");
    // A script may call functions of one it sources (build-image.sh and trees.sh).
    let parsed: Vec<_> = scripts.iter().map(|p| (p, script_programs(p))).collect();
    let functions: BTreeSet<&String> = parsed.iter().flat_map(|(_, (_, f))| f).collect();
    for (path, (programs, _)) in &parsed {
        for program in programs.iter().filter(|p| !functions.contains(p)) {
            seen += 1;
            if !listed.contains(program) && !NOT_FROM_APT.iter().any(|(p, _)| p == program) {
                unlisted.push(format!("{}: runs `{program}`", path.display()));
            }
        }
    }
    assert!(seen > 50, "the scan found only {seen} programs");
    assert!(
        unknown.is_empty(),
        "Command::new with an argument this test cannot name (add it to OWN_PROGRAMS with why):\n{}",
        unknown.join("\n")
    );
    assert!(
        unlisted.is_empty(),
        "programs run but missing from scripts/requirements.txt:\n{}",
        unlisted.join("\n")
    );
}

#[test]
fn the_scan_sees_through_wrappers_sudo_and_functions() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.sh");
    std::fs::write(
        &script,
        "in_root() { chroot \"$root\" \"$@\"; }\n\
         in_root systemctl enable x\n\
         \"${as_root[@]}\" apt-get update\n\
         find . | xargs -0r touch --date=x\n\
         out=$(sha256sum f | cut -d' ' -f1)\n\
         env LC_ALL=C sort <<EOF\nnot-a-command here\nEOF\n\
         [ -e x ] || echo no\n",
    )
    .unwrap();
    let (mut got, functions) = script_programs(&script);
    got.retain(|p| !functions.contains(p));
    let want: BTreeSet<String> = [
        "chroot",
        "apt-get",
        "find",
        "xargs",
        "touch",
        "sha256sum",
        "cut",
        "env",
        "sort",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(got, want);
}

#[test]
fn the_scan_finds_programs_and_resolves_constants_in_rust() {
    let text = "const QEMU: &str = \"qemu-system-aarch64\";\n\
                fn f() { Command::new(QEMU); Command::new(\"sfdisk\").arg(x(1)); Command::new(make(\"x\")); }";
    let mut unknown = Vec::new();
    let got = rust_programs(Path::new("x.rs"), text, &mut unknown);
    assert_eq!(
        got,
        ["qemu-system-aarch64", "sfdisk"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(unknown, vec!["x.rs: Command::new(make(\"x\"))"]);
}
