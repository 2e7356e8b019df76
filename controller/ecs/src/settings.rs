//! Service settings that `UpdateService` leaves alone unless told: ECS Exec, placement, Cloud
//! Map registries and Service Connect. Turning one off means sending its empty value, and some
//! ECS-compatible endpoints drop them on `CreateService`; both are decided here, from the plan's
//! field paths and the created service, never from guesses.

use ferry_core::ecs_features::ServiceConnect;
use ferry_core::live::LiveService;
use ferry_core::plan::Change;
use ferry_core::render::{CreateService, UpdateService};

/// Make `update` carry the empty value of every setting `change` removes, so ECS turns it off
/// (an absent field means "unchanged" to `UpdateService`).
pub(crate) fn clear_removed(update: &mut UpdateService, change: &Change) {
    let touched = |name: &str| {
        change
            .fields
            .iter()
            .any(|f| f.path == name || f.path.starts_with(&format!("{name}.")))
    };
    if touched("enableExecuteCommand") && update.enable_execute_command.is_none() {
        update.enable_execute_command = Some(false);
    }
    if touched("placementConstraints") && update.placement_constraints.is_none() {
        update.placement_constraints = Some(Vec::new());
    }
    if touched("placementStrategy") && update.placement_strategy.is_none() {
        update.placement_strategy = Some(Vec::new());
    }
    if touched("serviceRegistries") && update.service_registries.is_none() {
        update.service_registries = Some(Vec::new());
    }
    if touched("serviceConnect") && update.service_connect_configuration.is_none() {
        update.service_connect_configuration = Some(ServiceConnect {
            enabled: false,
            namespace: None,
            services: Vec::new(),
        });
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Whether the service `CreateService` returned lacks settings it was created with (ECS Exec,
/// capacity providers, placement, registries): then an `UpdateService` puts them right at once,
/// rather than as drift on the next reconcile.
pub(crate) fn dropped_on_create(live: &LiveService, input: &CreateService) -> bool {
    live.enable_execute_command != input.enable_execute_command
        || (!input.capacity_provider_strategy.is_empty()
            && sorted(live.capacity_provider_strategy.clone())
                != sorted(input.capacity_provider_strategy.clone()))
        || sorted(live.placement_constraints.clone()) != sorted(input.placement_constraints.clone())
        || live.placement_strategy != input.placement_strategy
        || sorted(live.service_registries.clone()) != sorted(input.service_registries.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::plan::{FieldDiff, Op, ResourceKey, ResourceKind};

    fn change(paths: &[&str]) -> Change {
        Change {
            key: ResourceKey {
                env: "t".into(),
                kind: ResourceKind::EcsService,
                name: "web".into(),
            },
            op: Op::Update,
            fields: paths
                .iter()
                .map(|p| FieldDiff {
                    path: (*p).into(),
                    desired: None,
                    live: Some(serde_json::json!(true)),
                })
                .collect(),
        }
    }

    #[test]
    fn removing_a_setting_sends_its_empty_value_and_nothing_else() {
        let mut update = UpdateService::default();
        clear_removed(
            &mut update,
            &change(&[
                "enableExecuteCommand",
                "serviceConnect.services.http.discoveryName",
            ]),
        );
        assert_eq!(update.enable_execute_command, Some(false));
        assert_eq!(
            update.service_connect_configuration.map(|s| s.enabled),
            Some(false)
        );
        assert_eq!(update.placement_constraints, None);
        assert_eq!(update.service_registries, None);

        let mut kept = UpdateService {
            enable_execute_command: Some(true),
            ..UpdateService::default()
        };
        clear_removed(&mut kept, &change(&["enableExecuteCommand"]));
        assert_eq!(kept.enable_execute_command, Some(true));
    }

    #[test]
    fn a_create_answer_without_the_settings_asked_for_needs_an_update() {
        let input = CreateService {
            enable_execute_command: true,
            ..CreateService::default()
        };
        assert!(dropped_on_create(&LiveService::default(), &input));
        let live = LiveService {
            enable_execute_command: true,
            ..LiveService::default()
        };
        assert!(!dropped_on_create(&live, &input));
    }
}
