"""Self-tests of scripts/check-layout's cycle rule, on small synthetic crates.

Each crate is written from the strings below into a temporary directory.
The first group holds cycles, each made through a different mechanism that
a path-by-path reading misses (a re-export through mod.rs, a grouped use,
an alias, a glob re-export, a `super::` path, a path in a function body,
...); the second group holds crates without a cycle that must pass.

Run by scripts/check-layout before it checks the tree; alone:
    python3 -m unittest discover -s scripts/layout_tests
(CHECK_LAYOUT_UNDER_TEST=path runs them against another copy of the checker.)
"""

import contextlib
import importlib.machinery
import importlib.util
import io
import os
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.environ.get("CHECK_LAYOUT_UNDER_TEST") or os.path.join(HERE, "..", "check-layout")


def _load():
    loader = importlib.machinery.SourceFileLoader("check_layout_under_test", CHECKER)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


cl = _load()


class Tree(unittest.TestCase):
    """A test that writes crates into a temporary directory."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="check-layout-")
        self.dir = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, files, under="src"):
        root = os.path.join(self.dir, under)
        for rel, text in files.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(textwrap.dedent(text).lstrip("\n"))
        return root

    def edges(self, files):
        return cl.Crate(self.write(files)).edges

    def cycles(self, files):
        return cl.find_cycles(self.edges(files))

    def problems(self, files):
        return cl.cycle_problems("t", self.write(files))


class Cycles(Tree):
    def test_reexport_through_mod_rs(self):
        # b names crate::a::Thing; a/mod.rs only re-exports it from inner,
        # which uses b: the cycle is b <-> a/inner.rs, not through a/mod.rs.
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": """
                mod inner;
                pub use inner::Thing;
            """,
            "a/inner.rs": """
                pub struct Thing;
                impl Thing {
                    pub fn go() {
                        crate::b::helper();
                    }
                }
            """,
            "b.rs": """
                use crate::a::Thing;
                pub fn helper() {}
                pub fn run() {
                    Thing::go();
                }
            """,
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a/inner.rs", "b.rs"]])
        self.assertEqual(edges["b.rs"]["a/inner.rs"][0][0], 1)
        self.assertNotIn("a/mod.rs", edges["b.rs"])
        self.assertEqual(edges["a/mod.rs"], {})
        [problem] = self.problems(files)
        self.assertIn("import cycle between 2 top-level modules: a, b", problem)
        self.assertIn("a (a/inner.rs:4 `crate::b::helper` -> b.rs)", problem)
        self.assertIn("b.rs:1 -> a/inner.rs   `use crate::a::Thing`", problem)

    def test_reexport_chain(self):
        # A re-export of a re-export (`pub use crate::x::Y as Z`), followed
        # to the defining module.
        files = {
            "lib.rs": "mod a;\nmod b;\nmod c;\npub use c::Renamed as Public;\n",
            "a.rs": "pub struct A;\npub fn g() {\n    crate::b::f();\n}\n",
            "b.rs": "pub fn f() -> crate::Public {\n    todo!()\n}\n",
            "c.rs": "pub use crate::a::A as Renamed;\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a.rs", "b.rs"]])
        self.assertEqual(edges["c.rs"], {})
        self.assertEqual(edges["lib.rs"], {})

    def test_grouped_use(self):
        files = {
            "lib.rs": "mod a;\nmod x;\nmod z;\n",
            "a.rs": """
                use crate::{x::{self, Y}, z};
                pub struct A;
                pub fn f() -> Y {
                    x::make();
                    z::g();
                    Y
                }
            """,
            "x.rs": "pub struct Y;\npub fn make() {}\n",
            "z.rs": "pub fn g() {\n    let _ = crate::a::A;\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a.rs", "z.rs"]])
        # `Y` is an item: its `use` is the edge; `z` only names a module:
        # the edge is the path through it.
        self.assertEqual(edges["a.rs"]["x.rs"][0][0], 1)
        self.assertEqual(edges["a.rs"]["z.rs"][0][0], 5)

    def test_nested_groups_and_self(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": """
                use crate::{
                    b::{
                        self as bee,
                        deep::{Deep as D},
                    },
                };
                pub struct A;
                pub fn f(_: D) {
                    bee::g();
                }
            """,
            "b/mod.rs": "pub mod deep;\npub fn g() {}\n",
            "b/deep.rs": "pub struct Deep;\npub fn h() {\n    let _ = crate::a::A;\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a.rs", "b/deep.rs"]])
        self.assertEqual(edges["a.rs"]["b/deep.rs"][0][0], 4)
        self.assertEqual(edges["a.rs"]["b/mod.rs"][0][0], 9)

    def test_alias_of_child_module(self):
        # `use on as imp; imp::f()`, with a cfg alternative `off`.
        files = {
            "lib.rs": "mod otel;\n",
            "otel/mod.rs": """
                #[cfg(feature = "otel")]
                mod on;
                #[cfg(feature = "otel")]
                use on as imp;
                #[cfg(not(feature = "otel"))]
                mod off;
                #[cfg(not(feature = "otel"))]
                use off as imp;
                pub struct Tally;
                pub fn enabled() -> bool {
                    imp::enabled()
                }
            """,
            "otel/on.rs": "use super::Tally;\npub fn enabled() -> bool {\n    let _ = Tally;\n    true\n}\n",
            "otel/off.rs": "pub fn enabled() -> bool {\n    false\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["otel/mod.rs", "otel/on.rs"]])
        self.assertEqual(edges["otel/mod.rs"]["otel/on.rs"][0][0], 11)
        self.assertEqual(edges["otel/mod.rs"]["otel/off.rs"][0][0], 11)

    def test_alias_of_crate_path(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b as other;\npub struct A;\npub fn run() {\n    other::f();\n}\n",
            "b.rs": "pub fn f() {\n    let _ = crate::a::A;\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a.rs", "b.rs"]])
        self.assertEqual(edges["a.rs"]["b.rs"][0][0], 4)

    def test_imported_module_name(self):
        # `use crate::otel; ... otel::shutdown()`, inside a function body.
        files = {
            "lib.rs": "mod cli;\nmod otel;\n",
            "cli.rs": """
                use crate::otel;
                pub fn binary_name() {}
                pub fn main() {
                    otel::shutdown();
                }
            """,
            "otel.rs": "pub fn shutdown() {\n    crate::cli::binary_name();\n}\n",
        }
        self.assertEqual(self.cycles(files), [["cli.rs", "otel.rs"]])

    def test_glob_reexport(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": "mod inner;\npub use inner::*;\n",
            "a/inner.rs": "pub fn thing() {\n    crate::b::g()\n}\n",
            "b.rs": "pub fn g() {}\npub fn h() {\n    crate::a::thing()\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a/inner.rs", "b.rs"]])
        self.assertEqual(edges["a/mod.rs"], {})

    def test_glob_import_of_parent(self):
        # The parent calls its children's functions (glob re-exported),
        # the children use the parent's helpers through `use super::*`.
        files = {
            "lib.rs": "mod suite;\n",
            "suite/mod.rs": """
                mod one;
                pub use one::*;
                fn helper() {}
                pub fn run_all() {
                    first();
                }
            """,
            "suite/one.rs": "use super::*;\npub fn first() {\n    helper();\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["suite/mod.rs", "suite/one.rs"]])
        self.assertEqual(edges["suite/one.rs"]["suite/mod.rs"][0][0], 3)

    def test_super_path(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": "mod x;\nmod y;\n",
            "a/x.rs": "pub fn f() {\n    super::y::g()\n}\n",
            "a/y.rs": "pub fn g() {\n    super::super::b::k()\n}\n",
            "b.rs": "pub fn k() {\n    crate::a::x::f()\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a/x.rs", "a/y.rs", "b.rs"]])
        self.assertEqual(edges["a/mod.rs"], {})

    def test_bare_path_in_function_body(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": """
                pub fn f() {
                    if true {
                        let _v = crate::b::g();
                    }
                }
            """,
            "b.rs": "pub fn g() {}\npub fn h() {\n    crate::a::f()\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a.rs", "b.rs"]])
        self.assertEqual(edges["a.rs"]["b.rs"][0][0], 3)

    def test_mod_rs_using_its_child(self):
        files = {
            "lib.rs": "mod a;\n",
            "a/mod.rs": """
                mod inner;
                pub use inner::Thing;
                pub struct Helper;
                pub fn make() -> Thing {
                    Thing
                }
            """,
            "a/inner.rs": "pub struct Thing;\nfn h() -> super::Helper {\n    super::Helper\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a/inner.rs", "a/mod.rs"]])
        self.assertEqual(edges["a/mod.rs"]["a/inner.rs"][0][0], 4)
        # A folder's own file and its children may name each other's items.
        self.assertEqual(self.problems(files), [])

    def test_siblings_inside_a_folder(self):
        files = {
            "lib.rs": "mod a;\n",
            "a/mod.rs": "mod x;\nmod y;\npub use x::f;\n",
            "a/x.rs": "pub fn f() {\n    super::y::g()\n}\npub fn h() {}\n",
            "a/y.rs": "use super::x::h;\npub fn g() {\n    h()\n}\n",
        }
        [problem] = self.problems(files)
        self.assertIn("t: import cycle between 2 modules of a: x, y", problem)
        self.assertIn("a/x.rs:2 -> a/y.rs", problem)
        self.assertIn("a/y.rs:1 -> a/x.rs", problem)

    def test_subtrees_of_a_nested_folder(self):
        # a/b/p/deep.rs and a/b/q.rs: the cycle is between p and q, the
        # children of a/b, and is reported at that level only.
        files = {
            "lib.rs": "mod a;\n",
            "a/mod.rs": "mod b;\n",
            "a/b/mod.rs": "mod p;\nmod q;\n",
            "a/b/p/mod.rs": "mod deep;\n",
            "a/b/p/deep.rs": "pub fn f() {\n    crate::a::b::q::g()\n}\n",
            "a/b/q.rs": "pub fn g() {}\npub fn h() {\n    crate::a::b::p::deep::f()\n}\n",
        }
        problems = self.problems(files)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("import cycle between 2 modules of a/b: p, q", problems[0])

    def test_inline_module(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "pub mod x {\n    pub fn f() {\n        crate::b::g()\n    }\n}\n",
            "b.rs": "pub fn g() {}\npub fn h() {\n    crate::a::x::f()\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [["a.rs", "b.rs"]])
        self.assertEqual(edges["a.rs"]["b.rs"][0][0], 3)

    def test_macro_rules_body(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": """
                #[macro_export]
                macro_rules! call_b {
                    () => {
                        $crate::b::g()
                    };
                }
                pub struct A;
            """,
            "b.rs": "pub fn g() {}\npub fn h() {\n    let _ = crate::a::A;\n}\n",
        }
        self.assertEqual(self.cycles(files), [["a.rs", "b.rs"]])

    def test_top_level_cycle_without_file_cycle(self):
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a/mod.rs": "pub mod w;\npub mod x;\n",
            "a/w.rs": "pub fn g() {}\n",
            "a/x.rs": "pub fn f() {\n    crate::b::y::f()\n}\n",
            "b/mod.rs": "pub mod y;\npub mod z;\n",
            "b/y.rs": "pub fn f() {}\n",
            "b/z.rs": "pub fn f() {\n    crate::a::w::g()\n}\n",
        }
        problems = self.problems(files)
        self.assertEqual(len(problems), 1, problems)
        self.assertIn("import cycle between 2 top-level modules: a, b", problems[0])
        self.assertIn("a/x.rs:2", problems[0])
        self.assertIn("b/z.rs:2", problems[0])


class NoCycles(Tree):
    def test_mod_rs_that_declares_and_reexports(self):
        files = {
            "lib.rs": "mod a;\nmod b;\npub use a::{make, Thing};\n",
            "a/mod.rs": """
                mod inner;
                pub mod other;
                pub use inner::{make, Thing};
                pub(crate) use other::*;
                pub struct Helper;
            """,
            "a/inner.rs": """
                use super::Helper;
                pub struct Thing(Helper);
                pub fn make() -> Thing {
                    Thing(Helper)
                }
            """,
            "a/other.rs": "pub fn o() -> crate::a::Thing {\n    let _ = crate::a::Helper;\n    crate::a::make()\n}\n",
            "b.rs": "use crate::a::Thing;\npub fn f() -> Thing {\n    crate::a::make()\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [])
        self.assertEqual(edges["a/mod.rs"], {})
        self.assertEqual(edges["lib.rs"], {})
        self.assertEqual(sorted(edges["a/other.rs"]), ["a/inner.rs", "a/mod.rs"])
        self.assertEqual(self.problems(files), [])

    def test_child_uses_parent_item(self):
        files = {
            "lib.rs": "mod config;\n",
            "config/mod.rs": "mod parse;\npub struct Config;\npub use parse::read;\n",
            "config/parse.rs": "use super::Config;\npub fn read() -> Config {\n    super::Config\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [])
        self.assertEqual(edges["config/parse.rs"]["config/mod.rs"][0][0], 1)

    def test_name_shared_by_module_and_function(self):
        # `mod check; pub use check::check;` and a call of `check()`: the
        # function, in check.rs (one direction only).
        files = {
            "lib.rs": "mod cli;\n",
            "cli/mod.rs": "mod check;\npub use check::check;\npub fn run() {\n    check();\n}\n",
            "cli/check.rs": "pub fn check() {}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [])
        self.assertEqual(edges["cli/mod.rs"]["cli/check.rs"][0][0], 4)

    def test_test_code_is_left_out(self):
        files = {
            "lib.rs": "mod a;\nmod b;\nmod c;\n",
            "a.rs": """
                pub fn f() {}
                #[cfg(test)]
                mod tests {
                    use crate::b::g;
                }
                #[cfg(test)]
                fn helper() {
                    crate::b::g()
                }
                #[test]
                fn t() {
                    crate::b::g();
                }
                #[cfg(all(test, feature = "x"))]
                use crate::b::g as _;
            """,
            "b.rs": "pub fn g() {\n    crate::a::f();\n    let _ = crate::c::C;\n}\n",
            "c/mod.rs": "pub struct C;\n#[cfg(test)]\nmod checks;\n",
            "c/checks.rs": "use crate::b::*;\nfn x() {\n    g()\n}\n",
        }
        crate = cl.Crate(self.write(files))
        self.assertEqual(cl.find_cycles(crate.edges), [])
        self.assertEqual(crate.test_nodes, {"c/checks.rs"})

    def test_comments_strings_and_other_crates(self):
        files = {
            "lib.rs": "mod a;\nmod b;\npub use worker_rules as rules;\n",
            "a.rs": """
                // crate::b::g()
                /// [`crate::b`]
                pub fn f() {
                    let _ = "crate::b::g()";
                    let _ = crate::rules::url::mask_url("x");
                    ::std::mem::drop(tracing::info_span!("x"));
                }
            """,
            "b.rs": "pub fn g() {\n    crate::a::f()\n}\n",
        }
        edges = self.edges(files)
        self.assertEqual(cl.find_cycles(edges), [])
        self.assertEqual(edges["a.rs"], {})


class CommandLine(Tree):
    def run_main(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cl.main(["--no-self-test", "--root", self.dir, *args])
        return code, out.getvalue()

    def test_cycle_fails_and_clean_tree_passes(self):
        self.write({"lib.rs": "mod a;\nmod b;\n", "a.rs": "pub fn f() {}\n",
                    "b.rs": "pub fn g() {\n    crate::a::f()\n}\n"}, under="good/src")
        with open(os.path.join(self.dir, "good", "Cargo.toml"), "w") as f:
            f.write("[package]\nname = \"good\"\n")
        code, out = self.run_main("--graph", "good")
        self.assertEqual(code, 0, out)
        self.assertIn("b.rs -> [a.rs (2)]", out)
        self.write({"lib.rs": "mod a;\nmod b;\n", "a.rs": "pub fn f() {\n    crate::b::g()\n}\n",
                    "b.rs": "pub fn g() {\n    crate::a::f()\n}\n"}, under="bad/src")
        with open(os.path.join(self.dir, "bad", "Cargo.toml"), "w") as f:
            f.write("[package]\nname = \"bad\"\n")
        code, out = self.run_main()
        self.assertEqual(code, 1, out)
        self.assertIn("bad: import cycle between 2 top-level modules: a, b", out)
        self.assertIn("loop: a (a.rs:2 `crate::b::g` -> b.rs) -> b (b.rs:2 `crate::a::f` -> a.rs) -> a", out)


if __name__ == "__main__":
    unittest.main()
