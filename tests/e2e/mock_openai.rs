//! The OpenAI mock upstream (`mock_upstream::openai`), and the operator's
//! settings that point the `openai` plugin at it.

use hanzo_node::config::PluginOverrides;
pub use mock_upstream::openai::MockOpenAi;

/// The operator's settings for the `openai` plugin that point it at this
/// mock: its `base_url`, and its address in `allow_hosts`.
pub trait Overrides {
    fn overrides(&self) -> PluginOverrides;
}

impl Overrides for MockOpenAi {
    fn overrides(&self) -> PluginOverrides {
        let mut o = PluginOverrides::default();
        o.config
            .insert("base_url".into(), toml::Value::String(self.base_url()));
        o.allow_hosts.push(self.addr.to_string());
        o
    }
}

/// node.toml pointing the `openai` plugin at `mock` (its `base_url`, its
/// address allowed, a key), with the alias `gpt` for its `gpt-4o-mini`.
pub fn openai_toml(mock: &MockOpenAi) -> String {
    provider_toml(
        mock,
        "openai",
        "secrets = { OPENAI_API_KEY = \"sk-test\" }\n",
    )
}

/// node.toml pointing provider plugin `plugin` at `mock` (its `base_url`,
/// its address allowed, then `more` lines of the plugin's section), with the
/// alias `gpt` for its `gpt-4o-mini`.
pub fn provider_toml(mock: &MockOpenAi, plugin: &str, more: &str) -> String {
    format!(
        "[plugins.{plugin}]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n{more}\n\
         [[deployments]]\nalias = \"gpt\"\nprovider = \"{plugin}\"\nmodel = \"gpt-4o-mini\"\n",
        mock.base_url(),
        mock.addr
    )
}
