//! Dependencies point one way: every `crate::…`/`super::…` path in `src/` (outside `#[cfg(test)]`
//! modules and the CLI) must name a module of the same layer or of a layer below, in the order
//! lib.rs documents ("Layers, lowest first: …"), and no two files may import each other through
//! any chain. Reads the source as text: nothing here compiles or runs the crate.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

/// `src/`-relative file → its module path (`weights/gguf.rs` → `["weights", "gguf"]`).
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file.trim_end_matches(".rs").split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, root: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The code a build without tests sees: comments and the `#[cfg(test)]` module at the end removed.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The paths of a `use` tree (`a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`), each as segments.
fn expand(prefix: &[String], tree: &str) -> Vec<Vec<String>> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or_default();
        let mut out = prefix.to_vec();
        out.extend(path.split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from));
        return vec![out];
    };
    let mut head = prefix.to_vec();
    head.extend(tree[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from));
    let body = &tree[open + 1..tree.rfind('}').expect("a closed use tree")];
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.extend(expand(&head, &body[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if !body[start..].trim().is_empty() {
        out.extend(expand(&head, &body[start..]));
    }
    out
}

/// Every path a file names from the crate (`crate::`, `super::`, `self::` in `use` trees, and
/// `crate::…` written inline), as crate-absolute segments.
fn crate_paths(file: &str, code: &str) -> Vec<Vec<String>> {
    let me = module_path(file);
    // `self` is the file's module, `super` its parent (for `a/mod.rs`, module `a`'s parent)
    let here = me[..me.len().saturating_sub(1)].to_vec();
    let absolute = |path: Vec<String>| -> Option<Vec<String>> {
        match path.first()?.as_str() {
            "crate" => Some(path[1..].to_vec()),
            "self" => Some([me.clone(), path[1..].to_vec()].concat()),
            "super" => {
                let mut base = here.clone();
                let mut rest = &path[1..];
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                Some([base, rest.to_vec()].concat())
            }
            _ => None,
        }
    };
    let mut out = Vec::new();
    let mut outside_uses = String::new(); // the code without its `use` items, for the inline paths
    let mut at = 0;
    while let Some(found) = code[at..].find("use ").map(|i| at + i) {
        let real = !code[..found].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
        let Some(end) = code[found..].find(';').map(|e| found + e).filter(|_| real) else {
            outside_uses += &code[at..found + 4];
            at = found + 4;
            continue;
        };
        outside_uses += &code[at..found];
        let tree = &code[found + 4..end];
        if ["crate", "super", "self"].iter().any(|p| tree.trim_start().starts_with(p)) {
            out.extend(expand(&[], tree).into_iter().filter_map(absolute));
        }
        at = end + 1;
    }
    outside_uses += &code[at..];
    let code = outside_uses.as_str();
    for root in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(root) {
            let before = rest[..at].chars().last();
            let tail = &rest[at..];
            rest = &rest[at + root.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = tail.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            out.extend(absolute(path.split("::").filter(|s| !s.is_empty()).map(String::from).collect()));
        }
    }
    out
}

/// The file a path lands in: its longest prefix that is a module. Items lib.rs re-exports
/// (`crate::Error`) land in the module that defines them; its own items (`crate::VERSION`) in lib.rs.
fn file_of(path: &[String], modules: &BTreeMap<Vec<String>, String>, root: &BTreeMap<String, Vec<String>>) -> Option<String> {
    if let [item, ..] = path
        && let Some(from) = root.get(item)
    {
        return if from.is_empty() { Some("lib.rs".into()) } else { file_of(from, modules, root) };
    }
    (1..=path.len()).rev().find_map(|n| modules.get(&path[..n])).cloned()
}

/// lib.rs's own items: `pub use module::{A, B}` (A → module) and its consts/fns (→ lib.rs itself).
fn root_items(lib: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for path in crate_paths("lib.rs", &code(lib).replace("pub use ", "use crate::")) {
        if let Some((item, module)) = path.split_last() {
            out.insert(item.clone(), module.to_vec());
        }
    }
    for line in code(lib).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if let ["pub", "const" | "fn" | "static", name, ..] = words.as_slice() {
            out.insert(name.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '_').into(), Vec::new());
        }
    }
    out
}

/// lib.rs's documented order: the backticked names after "Layers, lowest first:".
fn documented_layers(lib: &str) -> Vec<String> {
    let doc: String = lib.lines().filter_map(|l| l.strip_prefix("//!")).collect::<Vec<_>>().join(" ");
    let at = doc.find("Layers, lowest first:").expect("lib.rs documents its layers (\"Layers, lowest first: `a` → `b` …\")");
    let order = &doc[at..doc[at..].find('.').map_or(doc.len(), |e| at + e)];
    order.split('`').skip(1).step_by(2).map(String::from).collect()
}

struct Graph {
    edges: BTreeMap<String, BTreeSet<String>>,
    layers: Vec<String>,
    /// Paths the reader could place in no file (`file: path`).
    unresolved: Vec<String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    files.retain(|f| !f.starts_with("bin/"));
    let modules: BTreeMap<Vec<String>, String> = files.iter().map(|f| (module_path(f), f.clone())).collect();
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let root = root_items(&lib);
    let (mut edges, mut unresolved) = (BTreeMap::<String, BTreeSet<String>>::new(), Vec::new());
    for file in files.iter().filter(|f| *f != "lib.rs") {
        let text = fs::read_to_string(src.join(file)).unwrap();
        for path in crate_paths(file, &code(&text)) {
            match file_of(&path, &modules, &root) {
                Some(target) if target != *file && target != "lib.rs" => {
                    edges.entry(file.clone()).or_default().insert(target);
                }
                Some(_) => {}
                None => unresolved.push(format!("{file}: crate::{}", path.join("::"))),
            }
        }
    }
    Graph { edges, layers: documented_layers(&lib), unresolved }
}

fn layer_of(file: &str) -> String {
    module_path(file).first().cloned().unwrap_or_default()
}

#[test]
fn imports_point_down_the_documented_layers() {
    let g = graph();
    assert!(g.layers.len() >= 10, "lib.rs lists the layers: {:?}", g.layers);
    // the reader sees real imports (so an empty graph cannot pass)
    let seen = |a: &str, b: &str| g.edges.get(a).is_some_and(|t| t.contains(b));
    assert!(seen("weights/gguf.rs", "formats/gguf.rs") && seen("infer/generate.rs", "models/kv_cache.rs"), "{:#?}", g.edges);
    assert!(g.unresolved.is_empty(), "paths the reader cannot place (a module it does not know?):\n{}", g.unresolved.join("\n"));
    let rank = |file: &str| {
        let layer = layer_of(file);
        g.layers.iter().position(|l| *l == layer).unwrap_or_else(|| panic!("{file}: its layer `{layer}` is not in lib.rs's list {:?}", g.layers))
    };
    let upward: Vec<String> = g
        .edges
        .iter()
        .flat_map(|(from, to)| to.iter().map(move |t| (from, t)))
        .filter(|(from, to)| rank(to) > rank(from))
        .map(|(from, to)| format!("{from} → {to}"))
        .collect();
    assert!(upward.is_empty(), "imports that point up the layers ({}):\n{}", g.layers.join(" → "), upward.join("\n"));
}

#[test]
fn no_two_files_import_each_other_through_any_chain() {
    let g = graph();
    // a file reaches itself again: depth-first search with the path kept
    fn visit<'a>(file: &'a str, g: &'a Graph, path: &mut Vec<&'a str>, done: &mut BTreeSet<&'a str>, cycles: &mut Vec<String>) {
        if let Some(at) = path.iter().position(|f| *f == file) {
            cycles.push(format!("{} → {file}", path[at..].join(" → ")));
            return;
        }
        if !done.insert(file) {
            return;
        }
        path.push(file);
        for next in g.edges.get(file).into_iter().flatten() {
            visit(next, g, path, done, cycles);
        }
        path.pop();
    }
    let (mut done, mut cycles) = (BTreeSet::new(), Vec::new());
    for file in g.edges.keys() {
        visit(file, &g, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_reader_expands_use_trees_and_relative_paths() {
    let paths = crate_paths("infer/generate.rs", "use super::{sampling::{draw, process}, generate};\nuse crate::models::kv_cache::KvCache;\nlet x = crate::weights::gguf::unpack();");
    let names: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(names, ["infer::sampling::draw", "infer::sampling::process", "infer::generate", "models::kv_cache::KvCache", "weights::gguf::unpack"]);
    assert_eq!(crate_paths("data/mod.rs", "use self::table::Table;")[0].join("::"), "data::table::Table");
    // `super` of a folder's mod.rs is the folder's parent; inline `super::` paths count too
    assert_eq!(crate_paths("data/mod.rs", "use super::tokenizer::Batch;")[0].join("::"), "tokenizer::Batch");
    assert_eq!(crate_paths("models/bert.rs", "let x = super::heads::pool(y);")[0].join("::"), "models::heads::pool");
}
