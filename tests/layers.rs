//! The library's layers (README "Layout"; ../shared/STYLE.md): every `crate::X` a module names
//! points down, never up, and modules of one layer (and the files of one module) form no cycle.
//! Read from the source text, tests (`#[cfg(test)]` onwards) left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, bottom first. `error` is the crate's error type: it wraps the modules' own error
/// types and may be named from anywhere, so it is checked on its own (below).
const LAYERS: &[&[&str]] = &[
    &["wire", "crypto", "keys", "clock"],
    &["db", "net", "enrollment"],
    &["vsu", "broker", "relay", "session", "courier", "token", "kdc", "remote", "execd"],
    &["cds", "gateway"],
    &["cli"],
];

/// What `error` may name: the modules whose error types it wraps, and the clock for messages.
const ERROR_MAY_NAME: &[&str] = &["wire", "keys", "token", "clock", "db", "session", "courier"];

fn layer(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&m))
}

/// The library source of a file, without its `#[cfg(test)]` items (each up to its matching brace).
fn code(path: &Path) -> String {
    let mut s = std::fs::read_to_string(path).unwrap();
    while let Some(i) = s.find("#[cfg(test)]") {
        let Some(open) = s[i..].find('{').map(|o| i + o) else { break };
        let mut depth = 0;
        let mut end = s.len();
        for (k, c) in s[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + k + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        s.replace_range(i..end, "");
    }
    s
}

/// Identifiers following `prefix` in `text` (`crate::` → `net`, `vsu`, …).
fn names_after(text: &str, prefix: &str) -> BTreeSet<String> {
    text.match_indices(prefix)
        .filter(|(i, _)| !text[..*i].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(i, _)| {
            text[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect()
        })
        .filter(|n: &String| !n.is_empty())
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Edges `from → to` of a graph that close a cycle, if any (depth-first search).
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut c = path[i..].to_vec();
            c.push(n.to_owned());
            return Some(c);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn library_modules_point_down_and_form_no_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut inner: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut problems = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("");
        let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts[0] == "bin" || parts[0] == "lib" {
            continue;
        }
        let module = parts[0].clone();
        let text = code(f);
        let named: BTreeSet<String> = names_after(&text, "crate::").into_iter().filter(|n| n != &module).collect();
        if module == "error" {
            for n in named.iter().filter(|n| layer(n).is_some() && !ERROR_MAY_NAME.contains(&n.as_str())) {
                problems.push(format!("src/error.rs names crate::{n}"));
            }
            continue;
        }
        let Some(own) = layer(&module) else {
            problems.push(format!("src/{module}: not in the layer table of tests/layers.rs"));
            continue;
        };
        for n in &named {
            match layer(n) {
                Some(l) if l > own => problems.push(format!("{} names crate::{n}, a higher layer", rel.display())),
                Some(_) => {
                    top.entry(module.clone()).or_default().insert(n.clone());
                }
                None => {}
            }
        }
        // The files of one module: `super::x` and `crate::module::x`.
        if parts.len() >= 2 {
            let file = if parts.last().unwrap() == "mod" { None } else { Some(parts[1].clone()) };
            if let Some(file) = file {
                let siblings: BTreeSet<String> = names_after(&text, "super::")
                    .into_iter()
                    .chain(names_after(&text, &format!("crate::{module}::")))
                    .filter(|n| {
                        n != &file
                            && (src.join(&module).join(format!("{n}.rs")).exists()
                                || src.join(&module).join(n).is_dir())
                    })
                    .collect();
                inner.entry(module.clone()).or_default().entry(file).or_default().extend(siblings);
            }
        }
    }
    // Within a layer the modules may name each other, but not in a circle.
    if let Some(c) = cycle(&top) {
        problems.push(format!("modules in a circle: {}", c.join(" → ")));
    }
    for (module, g) in &inner {
        if let Some(c) = cycle(g) {
            problems.push(format!("files of {module} in a circle: {}", c.join(" → ")));
        }
    }
    assert!(problems.is_empty(), "layering:\n  {}", problems.join("\n  "));
}
