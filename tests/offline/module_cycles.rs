//! No import cycles between modules (`make lint` runs this test).
//!
//! The crate's module tree is read from `src/lib.rs` by following its `mod`
//! declarations, each file parsed with `syn`. Every path a module uses
//! (`use` trees and paths in code that start with `crate::`, `super::`,
//! `self::` or a child module's name) is resolved to the deepest module it
//! names, through `pub use` re-exports, so `use crate::evaluate::Engine`
//! counts as a use of `evaluate::scoring` (or wherever `Engine` is
//! defined), not of `evaluate`. A use of module T from module A is an edge
//! between the two children of their closest common ancestor on the way to
//! A and to T: a file in `evaluate/cluster/` naming `evaluate::cli` is the
//! edge `cluster -> cli` among the children of `evaluate`. Uses between a
//! module and its own ancestors or descendants (a parent re-exporting a
//! child, a child using its parent's items) are not edges. Test-only modules
//! (`#[cfg(test)]`) are left out: tests may reach across.
//!
//! Any cycle among siblings fails the test, with one example use per edge.
//!
//! Written by hand because the tools that exist do not draw this line:
//! `cargo modules dependencies --acyclic` counts parent/child re-exports as
//! cycles (every `pub use self::x::Y` is one) and builds rust-analyzer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

type ModPath = Vec<String>;

/// One path used by a module, unresolved.
struct Use {
    from: ModPath,
    segments: Vec<String>,
    at: String,
}

#[derive(Default)]
struct Crate {
    modules: BTreeSet<ModPath>,
    test_only: BTreeSet<ModPath>,
    uses: Vec<Use>,
    /// `(module, exported name) -> path` of each `pub use` (name `*` for globs).
    reexports: BTreeMap<(ModPath, String), Vec<Vec<String>>>,
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().split_whitespace().any(|t| t == "test"))
    })
}

/// Flattens a use tree into full paths, with the name each brings in.
fn flatten(tree: &syn::UseTree, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            flatten(&p.tree, prefix, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let name = n.ident.to_string();
            if name == "self" {
                out.push((prefix.clone(), prefix.last().cloned().unwrap_or_default()));
            } else {
                let mut path = prefix.clone();
                path.push(name.clone());
                out.push((path, name));
            }
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix.clone();
            if r.ident != "self" {
                path.push(r.ident.to_string());
            }
            out.push((path, r.rename.to_string()));
        }
        syn::UseTree::Glob(_) => out.push((prefix.clone(), "*".into())),
        syn::UseTree::Group(g) => {
            for tree in &g.items {
                flatten(tree, prefix, out);
            }
        }
    }
}

struct Collector<'a> {
    krate: &'a mut Crate,
    module: ModPath,
    file: String,
}

impl Collector<'_> {
    fn record(&mut self, segments: Vec<String>, span: proc_macro2::Span) {
        self.krate.uses.push(Use {
            from: self.module.clone(),
            segments,
            at: format!("{}:{}", self.file, span.start().line),
        });
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut flat = Vec::new();
        flatten(&item.tree, &mut Vec::new(), &mut flat);
        let public = !matches!(item.vis, syn::Visibility::Inherited);
        for (path, name) in flat {
            if public {
                self.krate
                    .reexports
                    .entry((self.module.clone(), name))
                    .or_default()
                    .push(path.clone());
            }
            self.record(path, item.use_token.span);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() && path.segments.len() > 1 {
            let segments = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.record(segments, path.segments[0].ident.span());
        }
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, _: &'ast syn::ItemMod) {
        // Modules are walked by `load`, each with its own module path.
    }
}

/// Reads the module at `file` (and the modules it declares) into `krate`.
fn load(
    krate: &mut Crate,
    root: &Path,
    file: &Path,
    items: &[syn::Item],
    module: &ModPath,
    child_dir: &Path,
    test: bool,
) {
    krate.modules.insert(module.clone());
    if test {
        krate.test_only.insert(module.clone());
    }
    let shown = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let mut collector = Collector {
        krate,
        module: module.clone(),
        file: shown,
    };
    for item in items {
        collector.visit_item(item);
    }
    for item in items {
        let syn::Item::Mod(m) = item else { continue };
        let name = m.ident.to_string();
        let mut child = module.clone();
        child.push(name.clone());
        let child_test = test || is_cfg_test(&m.attrs);
        match &m.content {
            Some((_, inner)) => load(
                krate,
                root,
                file,
                inner,
                &child,
                &child_dir.join(&name),
                child_test,
            ),
            None => {
                let flat = child_dir.join(format!("{name}.rs"));
                let (path, dir) = if flat.exists() {
                    (flat, child_dir.join(&name))
                } else {
                    let nested = child_dir.join(&name).join("mod.rs");
                    (nested, child_dir.join(&name))
                };
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("module {child:?}: cannot read {path:?}: {e}"));
                let parsed = syn::parse_file(&text)
                    .unwrap_or_else(|e| panic!("{}: does not parse: {e}", path.display()));
                let test = child_test || is_cfg_test(&parsed.attrs);
                load(krate, root, &path, &parsed.items, &child, &dir, test);
            }
        }
    }
}

/// The module tree of the library rooted at `lib` (a `lib.rs`).
fn read_crate(lib: &Path) -> Crate {
    let text = std::fs::read_to_string(lib).expect("lib.rs");
    let parsed = syn::parse_file(&text).expect("lib.rs parses");
    let mut krate = Crate::default();
    let dir = lib.parent().expect("lib.rs has a folder").to_path_buf();
    let root = dir.parent().unwrap_or(&dir).to_path_buf();
    load(
        &mut krate,
        &root,
        lib,
        &parsed.items,
        &Vec::new(),
        &dir,
        false,
    );
    krate
}

impl Crate {
    /// The deepest module `segments` names, seen from `from`; `None` for
    /// paths into other crates or to local items.
    fn resolve(&self, from: &ModPath, segments: &[String], depth: usize) -> Option<ModPath> {
        let (mut base, rest) = match segments.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &segments[1..]),
            Some("self") => (from.clone(), &segments[1..]),
            Some("super") => {
                let mut base = from.clone();
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                (base, rest)
            }
            Some(first) => {
                let mut child = from.clone();
                child.push(first.to_owned());
                if !self.modules.contains(&child) {
                    return None;
                }
                (from.clone(), segments)
            }
            None => return None,
        };
        let mut rest = rest;
        while let Some(next) = rest.first() {
            let mut child = base.clone();
            child.push(next.clone());
            if self.modules.contains(&child) {
                base = child;
                rest = &rest[1..];
                continue;
            }
            // An item of `base`: follow it if `base` re-exports it.
            if depth < 8 {
                let key = (base.clone(), next.clone());
                let target = self
                    .reexports
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .find_map(|path| self.resolve(&base, path, depth + 1));
                if let Some(target) = target.filter(|t| t != &base) {
                    return Some(target);
                }
            }
            break;
        }
        Some(base)
    }

    /// Sibling edges: `(parent, from child, to child) -> example use`.
    fn edges(&self) -> BTreeMap<(ModPath, String, String), String> {
        let mut edges = BTreeMap::new();
        for u in &self.uses {
            if self.test_only.contains(&u.from) {
                continue;
            }
            let Some(target) = self.resolve(&u.from, &u.segments, 0) else {
                continue;
            };
            let common = u
                .from
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == u.from.len() || common == target.len() {
                continue; // ancestor or descendant
            }
            let parent = u.from[..common].to_vec();
            let key = (parent, u.from[common].clone(), target[common].clone());
            edges
                .entry(key)
                .or_insert_with(|| format!("{} uses {}", u.at, u.segments.join("::")));
        }
        edges
    }
}

/// The cycles among siblings, each as its edges with an example use.
fn cycles(krate: &Crate) -> Vec<String> {
    let edges = krate.edges();
    let mut by_parent: BTreeMap<&ModPath, BTreeMap<&str, Vec<&str>>> = BTreeMap::new();
    for (parent, from, to) in edges.keys() {
        by_parent
            .entry(parent)
            .or_default()
            .entry(from)
            .or_default()
            .push(to);
    }
    let mut found = Vec::new();
    for (parent, graph) in by_parent {
        for component in strongly_connected(&graph) {
            if component.len() < 2 {
                continue;
            }
            let members: BTreeSet<&str> = component.iter().copied().collect();
            let shown = if parent.is_empty() {
                "crate".to_owned()
            } else {
                parent.join("::")
            };
            let mut text = format!("cycle among the children of {shown}: {members:?}");
            for ((p, from, to), example) in &edges {
                if p == parent && members.contains(from.as_str()) && members.contains(to.as_str()) {
                    text.push_str(&format!("\n  {from} -> {to}: {example}"));
                }
            }
            found.push(text);
        }
    }
    found
}

/// Tarjan's strongly connected components of a small graph.
fn strongly_connected<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    struct State<'a> {
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(node: &'a str, graph: &BTreeMap<&'a str, Vec<&'a str>>, s: &mut State<'a>) {
        let i = s.index.len();
        s.index.insert(node, i);
        s.low.insert(node, i);
        s.stack.push(node);
        s.on_stack.insert(node);
        for &next in graph.get(node).into_iter().flatten() {
            if !s.index.contains_key(next) {
                visit(next, graph, s);
                let low = s.low[node].min(s.low[next]);
                s.low.insert(node, low);
            } else if s.on_stack.contains(next) {
                let low = s.low[node].min(s.index[next]);
                s.low.insert(node, low);
            }
        }
        if s.low[node] == s.index[node] {
            let mut component = Vec::new();
            while let Some(top) = s.stack.pop() {
                s.on_stack.remove(top);
                component.push(top);
                if top == node {
                    break;
                }
            }
            s.out.push(component);
        }
    }
    let mut state = State {
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for &node in graph.keys() {
        if !state.index.contains_key(node) {
            visit(node, graph, &mut state);
        }
    }
    state.out
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_cycles_between_sibling_modules() {
    let krate = read_crate(&repo().join("src/lib.rs"));
    assert!(
        krate.modules.len() > 20 && krate.edges().len() > 20,
        "the module reader found too little ({} modules, {} edges): it is broken",
        krate.modules.len(),
        krate.edges().len()
    );
    let found = cycles(&krate);
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

/// A throw-away crate in a temporary folder: `files` are `(path, text)`.
fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("traceval-cycles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

#[test]
fn a_cycle_through_a_reexport_and_a_nested_file_is_found() {
    let dir = scratch(
        "found",
        &[
            ("src/lib.rs", "pub mod a;\npub mod b;\n"),
            ("src/a/mod.rs", "mod inner;\npub use self::inner::Thing;\n"),
            ("src/a/inner.rs", "pub struct Thing(crate::b::Other);\n"),
            ("src/b.rs", "use super::a::Thing;\npub struct Other;\n"),
        ],
    );
    let found = cycles(&read_crate(&dir.join("src/lib.rs")));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("a -> b") && found[0].contains("b -> a"),
        "{}",
        found[0]
    );
}

#[test]
fn parents_children_and_tests_are_not_cycles() {
    let dir = scratch(
        "clean",
        &[
            (
                "src/lib.rs",
                "pub mod a;\npub mod b;\npub use a::A;\npub struct Root;\n#[cfg(test)]\nmod t { use crate::b::B; }\n",
            ),
            (
                "src/a.rs",
                "pub struct A;\nfn f() -> crate::b::B { crate::b::B }\nfn g() -> super::Root { super::Root }\n",
            ),
            (
                "src/b.rs",
                "pub struct B;\n#[cfg(test)]\nmod tests { use crate::a::A; use crate::A as _; }\n",
            ),
        ],
    );
    let krate = read_crate(&dir.join("src/lib.rs"));
    let found = cycles(&krate);
    let pairs: Vec<(String, String)> = krate
        .edges()
        .keys()
        .map(|(_, f, t)| (f.clone(), t.clone()))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    // a -> b is real; b's tests using a, the root re-exporting a and a using
    // the root's items are not edges, so there is no cycle.
    assert_eq!(pairs, vec![("a".to_owned(), "b".to_owned())]);
    assert!(found.is_empty(), "{found:?}");
}
