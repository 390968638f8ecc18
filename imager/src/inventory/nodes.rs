//! The `nodes:` mapping, kept in the order written and refusing a name given twice (a plain
//! map would silently keep the last one).

use std::fmt;

use schemars::JsonSchema;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::Settings;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nodes(pub Vec<(String, Settings)>);

impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Nodes, D::Error> {
        struct NodesVisitor;
        impl<'de> Visitor<'de> for NodesVisitor {
            type Value = Nodes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of node name to node settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nodes, A::Error> {
                let mut nodes: Vec<(String, Settings)> = Vec::new();
                while let Some(name) = map.next_key::<String>()? {
                    if nodes.iter().any(|(n, _)| *n == name) {
                        return Err(serde::de::Error::custom(format!(
                            "node `{name}` is listed twice"
                        )));
                    }
                    let settings = map.next_value::<Settings>()?;
                    nodes.push((name, settings));
                }
                Ok(Nodes(nodes))
            }
        }
        deserializer.deserialize_map(NodesVisitor)
    }
}

impl Serialize for Nodes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, settings) in &self.0 {
            map.serialize_entry(name, settings)?;
        }
        map.end()
    }
}

impl JsonSchema for Nodes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Nodes".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let settings = generator.subschema_for::<Settings>();
        schemars::json_schema!({
            "type": "object",
            "minProperties": 1,
            "propertyNames": { "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$" },
            "additionalProperties": settings,
        })
    }
}
