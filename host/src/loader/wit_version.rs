//! Which version of the `hanzo:node` WIT package a component was built
//! against. The node loads every version in `WIT_VERSIONS`; a component
//! built for another cannot link (the package is pre-1.0: each minor
//! version is a breaking one), and the linker's own error would name only
//! the first import it missed; this says what to do.

use crate::bindings::{WIT_VERSION, WIT_VERSIONS};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The package whose version the node checks.
const PACKAGE: &str = "hanzo:node/";

/// `Err` naming the version `component` imports or exports when the node
/// does not implement it; `Ok` when it uses versions the node implements or
/// no `hanzo:node` interface at all.
pub fn check(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name));
    for name in names {
        let Some(item) = name.strip_prefix(PACKAGE) else {
            continue;
        };
        let version = item.split_once('@').map_or("", |(_, v)| v);
        if !WIT_VERSIONS.contains(&version) {
            let built = if version.is_empty() {
                "an unversioned hanzo:node package".to_string()
            } else {
                format!("hanzo:node@{version}")
            };
            return Err(format!(
                "built against {built} (it uses `{name}`), but this node implements \
                 hanzo:node@{}: rebuild the plugin against this node's \
                 `wit/since_v{WIT_VERSION}/` folder (for Rust, with the hanzo-node-sdk of \
                 the same release)",
                WIT_VERSIONS.join(", @")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        Component as Encoder, ComponentImportSection, ComponentTypeRef, ComponentTypeSection,
        InstanceType,
    };

    /// A component importing one empty instance named `import`.
    fn importing(import: &str) -> Vec<u8> {
        let mut types = ComponentTypeSection::new();
        types.instance(&InstanceType::new());
        let mut imports = ComponentImportSection::new();
        imports.import(import, ComponentTypeRef::Instance(0));
        let mut component = Encoder::new();
        component.section(&types).section(&imports);
        component.finish()
    }

    fn check_import(import: &str) -> Result<(), String> {
        let engine = Engine::default();
        let component = Component::new(&engine, importing(import)).unwrap();
        check(&engine, &component)
    }

    #[test]
    fn another_version_is_named_with_what_to_do() {
        let error = check_import("hanzo:node/log@0.1.0").unwrap_err();
        assert!(error.contains("built against hanzo:node@0.1.0"), "{error}");
        assert!(
            error.contains("implements hanzo:node@0.2.0, @0.3.0, @0.3.1, @0.3.2, @0.3.3, @0.3.4"),
            "{error}"
        );
        assert!(error.contains("rebuild"), "{error}");
        assert!(check_import("hanzo:node/log").is_err());
    }

    #[test]
    fn the_nodes_version_and_other_packages_pass() {
        assert_eq!(check_import(&crate::bindings::wit_name("log")), Ok(()));
        assert_eq!(check_import("hanzo:node/log@0.2.0"), Ok(()));
        assert_eq!(check_import("wasi:io/streams@0.2.6"), Ok(()));
    }
}
