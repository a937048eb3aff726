//! The schemas of the served kinds: one catalog, built once on first use, that the OpenAPI
//! documents ([`crate::openapi`]), field validation ([`crate::field_validation`]) and
//! server-side apply read.
//!
//! The definitions come from `k8s-openapi`'s `schemars` implementations (generated from
//! upstream's OpenAPI, descriptions included). bosun adds what upstream's documents carry and
//! those implementations do not: `x-kubernetes-group-version-kind` on every kind, the
//! `<Kind>List` definitions, and `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`
//! on list fields, taken from `bosun-patch`'s table so that patches, apply and the documents
//! agree.
//!
//! Next to the JSON definitions the catalog keeps a compact [`Shape`] tree per kind (field
//! names and nesting, no descriptions), which is what request handling walks.

use bosun_patch::{ListStrategy, list_strategy};
use k8s_openapi::schemars::JsonSchema;
use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, OnceLock};

/// Where OpenAPI v3 documents keep their definitions.
pub const V3_PREFIX: &str = "#/components/schemas/";

/// A group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// What a value at some place in an object may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Anything (an embedded object, `FieldsV1`, a schema without a type).
    Any,
    /// A string, number, boolean or int-or-string.
    Scalar,
    /// An object with named fields: an index into [`Catalog::structs`].
    Struct(usize),
    /// A map from strings to values of one shape.
    Map(Box<Shape>),
    /// A list of values of one shape.
    List(Box<Shape>),
}

/// The named fields of one object type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Struct {
    pub fields: BTreeMap<Box<str>, Shape>,
}

/// Every served kind's schema, built once.
#[derive(Debug)]
pub struct Catalog {
    /// Every definition, named as upstream names them (`io.k8s.api.apps.v1.Deployment`), with
    /// references into `#/components/schemas/`.
    pub definitions: Map<String, Value>,
    /// The definition name of each kind.
    pub kinds: BTreeMap<Gvk, String>,
    /// The object types [`Shape::Struct`] points into.
    pub structs: Vec<Struct>,
    /// The shape of each kind's objects.
    pub shapes: HashMap<Gvk, Shape>,
}

static CATALOG: OnceLock<Arc<Catalog>> = OnceLock::new();

/// The catalog, built on first use.
pub fn catalog() -> &'static Catalog {
    CATALOG.get_or_init(|| Arc::new(Catalog::build()))
}

/// Add `K`'s schema to the generator; its definition name.
fn add<K: JsonSchema + k8s_openapi::Resource>(generator: &mut SchemaGenerator) -> (Gvk, String) {
    generator.subschema_for::<K>();
    (
        Gvk::new(K::GROUP, K::VERSION, K::KIND),
        K::schema_name().into_owned(),
    )
}

/// The kinds bosun knows a schema for: every served one, the kinds its subresources speak,
/// and the common built-in kinds a resource may be added for later.
fn generate(generator: &mut SchemaGenerator) -> Vec<(Gvk, String)> {
    use k8s_openapi::api::{
        apps, autoscaling, batch, coordination, core, discovery, events, networking, policy, rbac,
        scheduling, storage,
    };
    vec![
        add::<core::v1::Binding>(generator),
        add::<core::v1::ConfigMap>(generator),
        add::<core::v1::Endpoints>(generator),
        add::<core::v1::Event>(generator),
        add::<core::v1::LimitRange>(generator),
        add::<core::v1::Namespace>(generator),
        add::<core::v1::Node>(generator),
        add::<core::v1::PersistentVolume>(generator),
        add::<core::v1::PersistentVolumeClaim>(generator),
        add::<core::v1::Pod>(generator),
        add::<core::v1::PodTemplate>(generator),
        add::<core::v1::ReplicationController>(generator),
        add::<core::v1::ResourceQuota>(generator),
        add::<core::v1::Secret>(generator),
        add::<core::v1::Service>(generator),
        add::<core::v1::ServiceAccount>(generator),
        add::<apps::v1::ControllerRevision>(generator),
        add::<apps::v1::DaemonSet>(generator),
        add::<apps::v1::Deployment>(generator),
        add::<apps::v1::ReplicaSet>(generator),
        add::<apps::v1::StatefulSet>(generator),
        add::<autoscaling::v1::Scale>(generator),
        add::<autoscaling::v2::HorizontalPodAutoscaler>(generator),
        add::<batch::v1::CronJob>(generator),
        add::<batch::v1::Job>(generator),
        add::<coordination::v1::Lease>(generator),
        add::<discovery::v1::EndpointSlice>(generator),
        add::<events::v1::Event>(generator),
        add::<networking::v1::Ingress>(generator),
        add::<networking::v1::IngressClass>(generator),
        add::<networking::v1::NetworkPolicy>(generator),
        add::<policy::v1::Eviction>(generator),
        add::<policy::v1::PodDisruptionBudget>(generator),
        add::<rbac::v1::ClusterRole>(generator),
        add::<rbac::v1::ClusterRoleBinding>(generator),
        add::<rbac::v1::Role>(generator),
        add::<rbac::v1::RoleBinding>(generator),
        add::<scheduling::v1::PriorityClass>(generator),
        add::<storage::v1::StorageClass>(generator),
    ]
}

/// The definitions of the meta types every document refers to.
fn generate_meta(generator: &mut SchemaGenerator) {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
    generator.subschema_for::<meta::Status>();
    generator.subschema_for::<meta::DeleteOptions>();
    generator.subschema_for::<meta::ListMeta>();
}

/// The definition a schema refers to, when it is a reference (`$ref`, or `allOf` with one).
pub fn reference(schema: &Value) -> Option<&str> {
    let target = schema.get("$ref").or_else(|| {
        schema
            .get("allOf")
            .and_then(Value::as_array)
            .filter(|all| all.len() == 1)
            .and_then(|all| all[0].get("$ref"))
    })?;
    target.as_str()?.rsplit('/').next()
}

impl Catalog {
    fn build() -> Self {
        let settings = SchemaSettings::openapi3().with(|s| s.meta_schema = None);
        let mut generator = settings.into_generator();
        let kinds = generate(&mut generator);
        generate_meta(&mut generator);
        let mut definitions = generator.take_definitions(true);
        for (gvk, name) in &kinds {
            if let Some(Value::Object(def)) = definitions.get_mut(name) {
                def.insert(
                    "x-kubernetes-group-version-kind".into(),
                    json!([{"group": gvk.group, "kind": gvk.kind, "version": gvk.version}]),
                );
            }
            let list = list_definition(gvk, name);
            definitions.insert(format!("{name}List"), list);
        }
        for (gvk, name) in &kinds {
            annotate_lists(&mut definitions, gvk, name, &mut Vec::new(), 0);
        }
        let mut structs = Vec::new();
        let mut by_name = HashMap::new();
        let mut shapes = HashMap::new();
        for (gvk, name) in &kinds {
            let shape = shape_of_definition(&definitions, name, &mut structs, &mut by_name);
            shapes.insert(gvk.clone(), shape);
        }
        Self {
            definitions,
            kinds: kinds.into_iter().collect(),
            structs,
            shapes,
        }
    }

    /// The shape of a kind's objects, if bosun knows its schema.
    pub fn shape(&self, gvk: &Gvk) -> Option<&Shape> {
        self.shapes.get(gvk)
    }

    /// The fields of a struct shape.
    pub fn fields(&self, index: usize) -> Option<&BTreeMap<Box<str>, Shape>> {
        self.structs.get(index).map(|s| &s.fields)
    }

    /// The names of the definitions `roots` refer to, directly or not, roots included.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.into_iter().map(String::from).collect();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(def) = self.definitions.get(&name) {
                collect_refs(def, &mut todo);
            }
        }
        seen
    }
}

fn collect_refs(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(name) = v.as_str().and_then(|r| r.rsplit('/').next())
                {
                    out.push(name.to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// `<Kind>List`, as upstream defines it.
fn list_definition(gvk: &Gvk, item: &str) -> Value {
    json!({
        "description": format!("{}List is a list of {}.", gvk.kind, gvk.kind),
        "type": "object",
        "properties": {
            "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object.", "type": "string"},
            "items": {"description": format!("Items is the list of {}.", gvk.kind), "type": "array", "items": {"allOf": [{"$ref": format!("{V3_PREFIX}{item}")}], "default": {}}},
            "kind": {"description": "Kind is a string value representing the REST resource this object represents.", "type": "string"},
            "metadata": {"description": "Standard list metadata.", "allOf": [{"$ref": format!("{V3_PREFIX}io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta")}], "default": {}},
        },
        "required": ["items"],
        "x-kubernetes-group-version-kind": [{"group": gvk.group, "kind": format!("{}List", gvk.kind), "version": gvk.version}],
    })
}

/// Walk `name`'s definition as it sits at `path` in a `gvk` object, and mark each list field
/// with the strategy `bosun-patch` merges it by. Definitions are shared between kinds (a
/// `PodSpec` sits in pods and in every workload), and the table agrees wherever they do.
fn annotate_lists(
    definitions: &mut Map<String, Value>,
    gvk: &Gvk,
    name: &str,
    path: &mut Vec<String>,
    depth: usize,
) {
    // Recursive types (JSONSchemaProps) end the walk; built-in kinds nest far less deep.
    if depth > 24 {
        return;
    }
    let Some(props) = definitions
        .get(name)
        .and_then(|d| d.get("properties"))
        .and_then(Value::as_object)
        .cloned()
    else {
        return;
    };
    let api_version = gvk.api_version();
    for (field, schema) in props {
        path.push(field.clone());
        let (item, is_list) = match schema.get("type").and_then(Value::as_str) {
            Some("array") => (schema.get("items").cloned().unwrap_or(Value::Null), true),
            Some("object") => (
                schema
                    .get("additionalProperties")
                    .cloned()
                    .unwrap_or(Value::Null),
                false,
            ),
            _ => (schema.clone(), false),
        };
        if is_list {
            let steps: Vec<&str> = path.iter().map(String::as_str).collect();
            let marks = match list_strategy(&api_version, &gvk.kind, &steps) {
                ListStrategy::MergeKey(key) => Some(json!({
                    "x-kubernetes-patch-strategy": "merge",
                    "x-kubernetes-patch-merge-key": key,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": [key],
                })),
                ListStrategy::Set => Some(json!({
                    "x-kubernetes-patch-strategy": "merge",
                    "x-kubernetes-list-type": "set",
                })),
                ListStrategy::Replace => None,
            };
            if let Some(Value::Object(marks)) = marks
                && let Some(Value::Object(target)) = definitions
                    .get_mut(name)
                    .and_then(|d| d.get_mut("properties"))
                    .and_then(|p| p.get_mut(field.as_str()))
            {
                target.extend(marks);
            }
        }
        // Maps are not followed: their keys are data, not field names.
        let is_map = schema.get("type").and_then(Value::as_str) == Some("object")
            && schema.get("additionalProperties").is_some();
        if !is_map && let Some(child) = reference(&item) {
            let child = child.to_string();
            annotate_lists(definitions, gvk, &child, path, depth + 1);
        }
        path.pop();
    }
}

/// The compact shape of a named definition, memoised in `by_name`.
fn shape_of_definition(
    definitions: &Map<String, Value>,
    name: &str,
    structs: &mut Vec<Struct>,
    by_name: &mut HashMap<String, Shape>,
) -> Shape {
    if let Some(shape) = by_name.get(name) {
        return shape.clone();
    }
    let Some(def) = definitions.get(name) else {
        return Shape::Any;
    };
    match def.get("properties").and_then(Value::as_object) {
        Some(props) => {
            // Reserve the index first: definitions may refer to themselves.
            let index = structs.len();
            structs.push(Struct::default());
            by_name.insert(name.to_string(), Shape::Struct(index));
            let mut fields = BTreeMap::new();
            for (field, schema) in props {
                let shape = shape_of_schema(definitions, schema, structs, by_name);
                fields.insert(field.as_str().into(), shape);
            }
            structs[index] = Struct { fields };
            Shape::Struct(index)
        }
        None => {
            let shape = shape_of_schema(definitions, def, structs, by_name);
            by_name.insert(name.to_string(), shape.clone());
            shape
        }
    }
}

fn shape_of_schema(
    definitions: &Map<String, Value>,
    schema: &Value,
    structs: &mut Vec<Struct>,
    by_name: &mut HashMap<String, Shape>,
) -> Shape {
    if let Some(name) = reference(schema) {
        return shape_of_definition(definitions, name, structs, by_name);
    }
    if schema.get("x-kubernetes-int-or-string").is_some() {
        return Shape::Scalar;
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => Shape::List(Box::new(
            schema
                .get("items")
                .map(|i| shape_of_schema(definitions, i, structs, by_name))
                .unwrap_or(Shape::Any),
        )),
        Some("object") => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                let index = structs.len();
                structs.push(Struct::default());
                let mut fields = BTreeMap::new();
                for (field, s) in props {
                    fields.insert(
                        field.as_str().into(),
                        shape_of_schema(definitions, s, structs, by_name),
                    );
                }
                structs[index] = Struct { fields };
                Shape::Struct(index)
            } else if let Some(values) = schema.get("additionalProperties") {
                Shape::Map(Box::new(shape_of_schema(
                    definitions,
                    values,
                    structs,
                    by_name,
                )))
            } else {
                Shape::Any
            }
        }
        Some("string" | "integer" | "number" | "boolean") => Shape::Scalar,
        _ => Shape::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Gvk {
        Gvk::new("apps", "v1", "Deployment")
    }

    #[test]
    fn every_served_kind_has_a_schema_with_its_group_version_kind() {
        let catalog = catalog();
        for res in bosun_api::resources::all()
            .iter()
            .filter(|r| !r.is_computed())
        {
            let gvk = Gvk::new(res.group, res.version, res.kind);
            let name = catalog
                .kinds
                .get(&gvk)
                .unwrap_or_else(|| panic!("no schema for {gvk:?}"));
            let def = &catalog.definitions[name];
            assert_eq!(
                def["x-kubernetes-group-version-kind"][0]["kind"], res.kind,
                "{name}"
            );
            assert!(def["description"].as_str().is_some_and(|d| !d.is_empty()));
            assert!(catalog.definitions.contains_key(&format!("{name}List")));
        }
    }

    #[test]
    fn references_point_into_components_and_resolve() {
        let catalog = catalog();
        let def = &catalog.definitions["io.k8s.api.apps.v1.DeploymentSpec"];
        let strategy = &def["properties"]["strategy"];
        assert_eq!(
            reference(strategy),
            Some("io.k8s.api.apps.v1.DeploymentStrategy")
        );
        assert!(
            strategy["allOf"][0]["$ref"]
                .as_str()
                .is_some_and(|r| r.starts_with(V3_PREFIX))
        );
        let all = catalog.closure(["io.k8s.api.apps.v1.Deployment"]);
        for name in &all {
            assert!(catalog.definitions.contains_key(name), "{name} missing");
        }
        assert!(all.contains("io.k8s.api.core.v1.PodSpec"));
    }

    #[test]
    fn list_fields_carry_the_patch_strategy_bosun_merges_by() {
        let catalog = catalog();
        let containers =
            &catalog.definitions["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
        assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
        assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
        let finalizers = &catalog.definitions["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
            ["finalizers"];
        assert_eq!(finalizers["x-kubernetes-patch-strategy"], "merge");
        let args = &catalog.definitions["io.k8s.api.core.v1.Container"]["properties"]["args"];
        assert!(args.get("x-kubernetes-patch-strategy").is_none());
    }

    #[test]
    fn shapes_name_the_fields_of_a_kind() {
        let catalog = catalog();
        let Some(Shape::Struct(root)) = catalog.shape(&deployment()) else {
            panic!("deployment is a struct");
        };
        let fields = catalog.fields(*root).expect("fields");
        assert!(fields.contains_key("spec") && fields.contains_key("metadata"));
        let Shape::Struct(spec) = &fields["spec"] else {
            panic!("spec is a struct")
        };
        let spec = catalog.fields(*spec).expect("spec fields");
        assert_eq!(spec["replicas"], Shape::Scalar);
        let Shape::Struct(meta) = &fields["metadata"] else {
            panic!("metadata is a struct")
        };
        let meta = catalog.fields(*meta).expect("meta");
        assert_eq!(meta["labels"], Shape::Map(Box::new(Shape::Scalar)));
        assert!(matches!(meta["managedFields"], Shape::List(_)));
    }
}
