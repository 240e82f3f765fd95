//! The storage contract: one suite of `KeyStore` behaviours, run against SQLite always and
//! against PostgreSQL when `KEYCONSOLE_TEST_POSTGRES_URL` is set (each test on a fresh
//! database, dropped after; a set variable and an unreachable server fail the test).
//!
//! Every case is written once in `cases` and instantiated per backend by `contract!`, so the
//! two backends cannot drift apart: `sqlite::<case>` and `postgres::<case>`.

mod cases;
mod harness;
mod postgres_only;
#[path = "../support/mod.rs"]
mod support;

/// One `#[tokio::test]` per case and backend.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::harness::Harness::sqlite().await;
                    crate::cases::$case(&h).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::harness::Harness::postgres(stringify!($case)).await
                    else {
                        return;
                    };
                    crate::cases::$case(&h).await;
                }
            )*
        }
    };
}

contract!(
    orgs_are_created_once_and_read_back,
    an_org_with_its_owner_is_one_transaction,
    apps_belong_to_one_org_and_list_newest_first,
    keys_round_trip_every_field,
    key_ids_and_secret_hashes_are_unique,
    list_keys_pages_newest_first_with_totals,
    list_keys_filters,
    list_keys_sorts_page_with_positions,
    imported_keys_and_the_cursor_secret,
    update_key_is_a_compare_and_write,
    the_last_owner_key_cannot_be_taken_away,
    two_instances_cannot_each_take_one_of_the_last_two_owners,
    same_version_updates_from_two_instances_one_wins,
    delete_key_hides_the_key_everywhere,
    rotate_key_once_per_version,
    concurrent_rotations_one_wins,
    set_secret_replaces_the_hash,
    usage_rolls_up_and_last_used_moves_forward,
    usage_from_many_instances_adds_up,
    usage_of_many_keys_in_one_batch,
    add_buckets_adds_to_existing_counters,
    prune_drops_minute_and_hour_buckets_past_retention,
    auth_events_list_filter_page_and_trim,
    leaks_are_recorded_once_and_disable,
    scope_counts_sum_per_key_and_scope,
    review_candidates_per_kind,
    audit_lists_filter_and_keep_the_actor,
    audit_lists_in_time_order_whatever_the_order_written,
    ping_answers_while_the_database_works,
    key_changes_are_dense_one_per_mutation_and_none_for_usage,
);
