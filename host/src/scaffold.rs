//! `hanzo-node plugin new`: writes a plugin project that builds with one
//! command into a folder that drops into a node's plugin directory. The
//! templates, the WIT package and each language's SDK are built into the
//! binary, so a project needs nothing from this repository: a Rust project
//! gets the SDK crate's source and the WIT beside it (`hanzo-node-sdk/`,
//! `wit/`); a JavaScript one the SDK's modules (`sdk/`), its build script
//! (`build.mjs`) and the WIT, with the toolchain pinned in its
//! `package-lock.json`; a Python one the SDK package (`lib/hanzo_node/`) and
//! the WIT, with componentize-py pinned in its `Makefile`.

use crate::plugins::PluginKind;
use include_dir::{Dir, include_dir};
use std::path::{Path, PathBuf};

/// The WIT package, a folder per version (each with its `deps`).
static WIT: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../wit");

/// The version folder a language's SDK is built against: each is on
/// 0.3.4 (the node loads plugins built against 0.2.0 and 0.3.x).
fn wit_folder(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust | Lang::Python | Lang::Js => "since_v0.3.4",
    }
}

/// Copies the WIT version folder `lang` builds against into the project:
/// as `wit/since_v…/` for Rust (where the vendored SDK crate looks, as in
/// this repository), as `wit/` for the others (their build tools take one
/// folder).
fn copy_wit(files: &mut Files, lang: Lang) -> Result<(), ScaffoldError> {
    let folder = wit_folder(lang);
    let dir = WIT
        .get_dir(folder)
        .expect("the WIT version folders are built in");
    let dest = match lang {
        Lang::Rust => Path::new("wit").join(folder),
        Lang::Python | Lang::Js => PathBuf::from("wit"),
    };
    files.copy(dir, dir.path(), &dest, &[], &[])
}
/// The Rust SDK crate's source.
static RUST_SDK: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/src");
/// The Rust templates: `common/` for every kind, then one folder per kind.
static RUST_TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/templates");

/// The JavaScript SDK's modules and build script, and its templates
/// (`common/` and one folder per kind, as for Rust).
static JS_SDK: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/js/src");
static JS_BUILD: &str = include_str!("../../sdk/js/build.mjs");
static JS_TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/js/templates");

/// The Python SDK package and its templates (`common/` and one folder per kind).
static PY_SDK: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/python/src/hanzo_node");
static PY_TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../sdk/python/templates");

/// The versions the vendored SDK crate depends on: the workspace's own (a
/// test keeps them equal).
const SDK_DEPENDENCIES: &[(&str, &str)] = &[
    ("base64", r#""0.22""#),
    ("serde", r#"{ version = "1", features = ["derive"] }"#),
    ("serde_json", r#""1""#),
    ("wasip2", r#""2.0.1""#),
    ("wit-bindgen", r#""0.61""#),
];

/// A language plugins can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    /// The command that builds a project into `dist/<name>/`.
    pub fn build_command(self) -> &'static str {
        match self {
            Lang::Rust | Lang::Python => "make",
            Lang::Js => "npm ci && npm run build",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }
}

/// What went wrong writing a project.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("plugin name `{0}` must be 1-64 characters of a-z, 0-9, `-` or `_`")]
    Name(String),
    #[error("{0} exists and is not empty: choose another --dir")]
    Exists(PathBuf),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
}

/// Writes a new `kind` plugin project named `name` in `lang` into `dest`
/// (created; it must not hold anything yet). Returns the files written.
pub fn new_project(
    name: &str,
    kind: PluginKind,
    lang: Lang,
    dest: &Path,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    if !crate::plugins::manifest::valid_name(name) {
        return Err(ScaffoldError::Name(name.to_string()));
    }
    if std::fs::read_dir(dest).is_ok_and(|mut d| d.next().is_some()) {
        return Err(ScaffoldError::Exists(dest.to_path_buf()));
    }
    let vars = [
        ("{{name}}", name.to_string()),
        ("{{name_snake}}", name.replace('-', "_")),
        ("{{kind}}", kind.as_str().to_string()),
    ];
    let mut files = Files {
        root: dest,
        written: Vec::new(),
    };
    match lang {
        Lang::Rust => {
            files.template(
                &RUST_TEMPLATES,
                kind,
                &vars,
                &[
                    ("gitignore", ".gitignore"),
                    ("cargo-config.toml", ".cargo/config.toml"),
                ],
            )?;
            files.copy(
                &RUST_SDK,
                RUST_SDK.path(),
                Path::new("hanzo-node-sdk/src"),
                &[],
                &[],
            )?;
            files.write(Path::new("hanzo-node-sdk/Cargo.toml"), &sdk_manifest())?;
            copy_wit(&mut files, lang)?;
            files.write(Path::new("README.md"), &readme(name, kind, lang))?;
        }
        Lang::Python => {
            files.template(&PY_TEMPLATES, kind, &vars, &[])?;
            files.copy(
                &PY_SDK,
                PY_SDK.path(),
                Path::new("lib/hanzo_node"),
                &[],
                &[],
            )?;
            copy_wit(&mut files, lang)?;
        }
        Lang::Js => {
            files.template(&JS_TEMPLATES, kind, &vars, &[])?;
            files.copy(&JS_SDK, JS_SDK.path(), Path::new("sdk"), &[], &[])?;
            files.write(Path::new("build.mjs"), JS_BUILD)?;
            copy_wit(&mut files, lang)?;
        }
    }
    Ok(files.written)
}

/// The vendored SDK crate's manifest, without the workspace's inheritance.
fn sdk_manifest() -> String {
    let mut text = format!(
        "[package]\nname = \"hanzo-node-sdk\"\nversion = \"{}\"\nedition = \"2024\"\n\
         publish = false\n\n[lib]\nname = \"hanzo_node_sdk\"\n\n[dependencies]\n",
        crate::VERSION
    );
    for (name, spec) in SDK_DEPENDENCIES {
        text.push_str(&format!("{name} = {spec}\n"));
    }
    text
}

fn readme(name: &str, kind: PluginKind, lang: Lang) -> String {
    format!(
        "# {name}\n\nA Hanzo Node {kind} plugin in {lang}.\n\n\
         Build: `{build}` writes `dist/{name}/` (plugin.toml and the component).\n\
         Drop it in: copy `dist/{name}` into the node's plugin directory; a running\n\
         node loads it within a moment (`GET /v2/plugins/{name}` shows its state).\n\n\
         `plugin.toml` says what the plugin requests (`[permissions]`); the node's\n\
         operator decides what it gets (`[plugins.{name}]` in node.toml).\n\
         `wit/` is the node's interface, `hanzo-node-sdk/` the SDK: keep them as they\n\
         are, and regenerate the project with a newer `hanzo-node plugin new` to\n\
         move to a newer node.\n",
        kind = kind.as_str(),
        lang = lang.name(),
        build = lang.build_command(),
    )
}

/// Files written under `root`.
struct Files<'a> {
    root: &'a Path,
    written: Vec<PathBuf>,
}

impl Files<'_> {
    fn write(&mut self, rel: &Path, text: &str) -> Result<(), ScaffoldError> {
        self.write_bytes(rel, text.as_bytes())
    }

    fn write_bytes(&mut self, rel: &Path, bytes: &[u8]) -> Result<(), ScaffoldError> {
        let path = self.root.join(rel);
        let fail = |e| ScaffoldError::Write(path.clone(), e);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        std::fs::write(&path, bytes).map_err(fail)?;
        self.written.push(rel.to_path_buf());
        Ok(())
    }

    /// A language's templates into the project's root: `common/` (every
    /// kind), then the folder of `kind`.
    fn template(
        &mut self,
        templates: &Dir<'_>,
        kind: PluginKind,
        vars: &[(&str, String)],
        renames: &[(&str, &str)],
    ) -> Result<(), ScaffoldError> {
        for folder in ["common", kind.as_str()] {
            let dir = templates
                .get_dir(folder)
                .expect("templates: common/ and one per kind");
            self.copy(dir, dir.path(), Path::new(""), vars, renames)?;
        }
        Ok(())
    }

    /// Copies `dir` (whose own path in the embedded tree is `base`) to
    /// `to`, replacing `vars` in text files and renaming files as `renames`
    /// says (files a package manager or git would treat specially are
    /// stored under another name). Python bytecode caches are left out.
    fn copy(
        &mut self,
        dir: &Dir<'_>,
        base: &Path,
        to: &Path,
        vars: &[(&str, String)],
        renames: &[(&str, &str)],
    ) -> Result<(), ScaffoldError> {
        for file in dir.files() {
            let rel = file.path().strip_prefix(base).unwrap_or(file.path());
            // A bytecode cache a local run of the SDK left in the tree is
            // not part of any project.
            if rel.components().any(|c| c.as_os_str() == "__pycache__") {
                continue;
            }
            let rel = match renames.iter().find(|(from, _)| rel == Path::new(from)) {
                Some((_, to)) => PathBuf::from(to),
                None => rel.to_path_buf(),
            };
            match file.contents_utf8() {
                Some(text) if !vars.is_empty() => {
                    let text = vars
                        .iter()
                        .fold(text.to_string(), |t, (k, v)| t.replace(k, v));
                    self.write(&to.join(rel), &text)?
                }
                _ => self.write_bytes(&to.join(rel), file.contents())?,
            }
        }
        for sub in dir.dirs() {
            self.copy(sub, base, to, vars, renames)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rust_project_holds_its_sdk_and_wit() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("my-tool");
        let files = new_project("my-tool", PluginKind::Tool, Lang::Rust, &dest).unwrap();
        for f in [
            "Cargo.toml",
            "Makefile",
            ".gitignore",
            ".cargo/config.toml",
            "plugin.toml",
            "src/lib.rs",
            "README.md",
            "hanzo-node-sdk/Cargo.toml",
            "hanzo-node-sdk/src/lib.rs",
            "wit/since_v0.3.4/worlds.wit",
        ] {
            assert!(files.contains(&PathBuf::from(f)), "{f} missing: {files:?}");
        }
        let manifest = std::fs::read_to_string(dest.join("plugin.toml")).unwrap();
        assert!(manifest.contains("name = \"my-tool\""), "{manifest}");
        assert!(
            manifest.contains("component = \"my_tool.wasm\""),
            "{manifest}"
        );
        assert!(!manifest.contains("{{"), "{manifest}");
        // The SDK finds the WIT where it does in this repository.
        let lib = std::fs::read_to_string(dest.join("hanzo-node-sdk/src/lib.rs")).unwrap();
        assert!(lib.contains("path: \"../wit/since_v0.3.4\""));
        // A second run does not overwrite it.
        assert!(matches!(
            new_project("my-tool", PluginKind::Tool, Lang::Rust, &dest),
            Err(ScaffoldError::Exists(_))
        ));
        assert!(matches!(
            new_project(
                "My Tool",
                PluginKind::Tool,
                Lang::Rust,
                &dir.path().join("x")
            ),
            Err(ScaffoldError::Name(_))
        ));
    }

    #[test]
    fn a_python_project_holds_its_sdk_and_wit() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [PluginKind::Tool, PluginKind::Provider, PluginKind::Api] {
            let dest = dir.path().join(kind.as_str());
            let files = new_project("my-py", kind, Lang::Python, &dest).unwrap();
            for f in [
                "Makefile",
                ".gitignore",
                "plugin.toml",
                "app.py",
                "lib/hanzo_node/__init__.py",
                "wit/worlds.wit",
            ] {
                assert!(files.contains(&PathBuf::from(f)), "{f} missing: {files:?}");
            }
            assert!(
                !files
                    .iter()
                    .any(|f| f.to_string_lossy().contains("__pycache__"))
            );
            let make = std::fs::read_to_string(dest.join("Makefile")).unwrap();
            assert!(make.contains("NAME := my-py"), "{make}");
            assert!(make.contains("dist/$(NAME)"), "{make}");
            let world = format!("WORLD := hanzo:node/{}@0.3.4", kind.as_str());
            assert!(make.contains(&world), "{make}");
        }
    }

    #[test]
    fn a_js_project_holds_its_sdk_build_script_and_wit() {
        let dir = tempfile::tempdir().unwrap();
        for kind in [PluginKind::Tool, PluginKind::Provider, PluginKind::Api] {
            let dest = dir.path().join(kind.as_str());
            let files = new_project("my-js", kind, Lang::Js, &dest).unwrap();
            for f in [
                "package.json",
                "package-lock.json",
                ".gitignore",
                "plugin.toml",
                "src/index.js",
                "build.mjs",
                "sdk/tool.js",
                "wit/worlds.wit",
            ] {
                assert!(files.contains(&PathBuf::from(f)), "{f} missing: {files:?}");
            }
            let manifest = std::fs::read_to_string(dest.join("plugin.toml")).unwrap();
            assert!(manifest.contains("name = \"my-js\""), "{manifest}");
            assert!(manifest.contains(&format!("kind = \"{}\"", kind.as_str())));
            for f in &files {
                let text = std::fs::read_to_string(dest.join(f)).unwrap_or_default();
                assert!(
                    !text.contains("{{name") && !text.contains("{{kind"),
                    "{} keeps a placeholder",
                    f.display()
                );
            }
        }
    }

    #[test]
    fn the_vendored_sdk_depends_on_what_the_workspace_does() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let workspace: toml::Table =
            toml::from_str(&std::fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
        let sdk: toml::Table =
            toml::from_str(&std::fs::read_to_string(root.join("sdk/Cargo.toml")).unwrap()).unwrap();
        let shared = &workspace["workspace"]["dependencies"];
        let vendored: toml::Table = toml::from_str(&sdk_manifest()).unwrap();
        let vendored = vendored["dependencies"].as_table().unwrap();
        let deps = sdk["dependencies"].as_table().unwrap();
        assert_eq!(
            deps.keys().collect::<Vec<_>>(),
            vendored.keys().collect::<Vec<_>>()
        );
        for (name, spec) in deps {
            let expected = match spec.get("workspace") {
                Some(_) => &shared[name],
                None => spec,
            };
            assert_eq!(&vendored[name], expected, "{name}");
        }
    }
}
