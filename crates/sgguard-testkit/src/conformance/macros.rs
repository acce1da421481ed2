//! The clause list of every suite, and the macros that expand it into one test per clause.
//!
//! Each list lives here and nowhere else: a clause added to a suite module and to its list
//! becomes a test of every store that invokes the suite's macro.

/// One `#[tokio::test]` per clause of the audit log contract
/// ([`conformance::audit_log`](crate::conformance::audit_log)), each running its clause twice
/// on one store: a clause must not depend on an empty store.
///
/// The input is an expression that gives a future of `Option<S>`, `S: AuditLog` (`None`: the
/// store is not available here, and the test is skipped), optionally preceded by `|test|` to
/// bind the generated test's path as `test: &'static str` (for skip messages). Invoke it in a
/// module named after the store, so the tests read `<store>::<clause>`:
///
/// ```ignore
/// mod in_memory {
///     sgguard_testkit::audit_log_conformance!(async { Some(SqliteStore::open_in_memory().unwrap()) });
/// }
/// mod dynamo {
///     sgguard_testkit::audit_log_conformance!(|test| super::dynamo_audit_log(test));
/// }
/// ```
#[macro_export]
macro_rules! audit_log_conformance {
    ($($store:tt)+) => {
        $crate::__audit_log_clauses!(__conformance_tests!(audit_log; $($store)+;));
    };
}

/// One `#[tokio::test]` per clause of the audit log at scale
/// ([`conformance::audit_log_scale`](crate::conformance::audit_log_scale)): events of a
/// thousand rules and of a hundred, and a long rule history read in pages. Kept out of
/// [`audit_log_conformance!`] so the suites that fill a store with every audit-log clause
/// stay small. The input is as for [`audit_log_conformance!`].
#[macro_export]
macro_rules! audit_log_scale_conformance {
    ($($store:tt)+) => {
        $crate::__audit_log_scale_clauses!(__conformance_tests!(audit_log_scale; $($store)+;));
    };
}

/// The clauses of [`conformance::audit_log_scale`](crate::conformance::audit_log_scale).
#[doc(hidden)]
#[macro_export]
macro_rules! __audit_log_scale_clauses {
    ($callback:ident!($($args:tt)*)) => {
        $crate::$callback!($($args)* [
            a_thousand_rule_authorize_is_begun_completed_and_read_back_whole,
            a_hundred_rule_modification_is_begun_completed_and_read_back_whole,
            rule_history_pages_read_back_from_an_event_newest_first,
        ]);
    };
}

/// One `#[tokio::test]` per clause of the allowlist contract
/// ([`conformance::allowlist_store`](crate::conformance::allowlist_store)), each running its
/// clause twice on one store. The input is as for
/// [`audit_log_conformance!`](crate::audit_log_conformance), with `S: AllowlistStore`.
#[macro_export]
macro_rules! allowlist_conformance {
    ($($store:tt)+) => {
        $crate::__allowlist_clauses!(__conformance_tests!(allowlist_store; $($store)+;));
    };
}

/// One `#[tokio::test]` per clause of the audit query contract
/// ([`conformance::audit_reader`](crate::conformance::audit_reader)), each running its clause
/// twice on one store. The input is as for
/// [`audit_log_conformance!`](crate::audit_log_conformance), with
/// `S: AuditLog + AuditReader`.
#[macro_export]
macro_rules! audit_reader_conformance {
    ($($store:tt)+) => {
        $crate::__audit_reader_clauses!(__conformance_tests!(audit_reader; $($store)+;));
    };
}

/// One `#[tokio::test]` per clause of allowlist changes as audit records
/// ([`conformance::allowlist_changes`](crate::conformance::allowlist_changes)), each running
/// its clause twice on one store. The input is as for
/// [`audit_log_conformance!`](crate::audit_log_conformance), with
/// `S: AuditReader + AllowlistStore`: one store that is both, or two joined in an
/// [`AuditWithAllowlist`](crate::conformance::AuditWithAllowlist).
#[macro_export]
macro_rules! allowlist_changes_conformance {
    ($($store:tt)+) => {
        $crate::__allowlist_changes_clauses!(__conformance_tests!(allowlist_changes; $($store)+;));
    };
}

/// The clauses of [`conformance::audit_log`](crate::conformance::audit_log), handed to the
/// macro `$callback` after `$args`.
#[doc(hidden)]
#[macro_export]
macro_rules! __audit_log_clauses {
    ($callback:ident!($($args:tt)*)) => {
        $crate::$callback!($($args)* [
            event_of_an_id_never_stored_is_none,
            begin_inserts_once_and_returns_what_was_stored,
            a_second_delivery_gets_back_exactly_what_was_stored,
            a_pending_record_whose_lease_is_held_is_busy,
            complete_without_the_records_lease_is_refused_and_changes_nothing,
            complete_replaces_outcome_reason_actions_and_remediation,
            a_begin_after_complete_gets_back_the_completed_record,
            complete_of_an_event_never_begun_is_refused_and_stores_nothing,
            rule_history_lists_a_rules_changes_oldest_first,
            rule_history_snapshots_hold_the_event_and_that_rules_change,
            rule_history_of_another_rule_of_the_same_event_is_its_own,
            rule_history_of_a_rule_never_changed_is_empty,
            changes_after_lists_a_groups_changes_by_strictly_later_events,
            changes_after_the_last_change_is_empty,
            changes_after_of_a_group_never_changed_is_empty,
            an_expired_lease_is_taken_over_by_exactly_one_worker,
            only_the_lease_holder_completes_a_taken_over_record,
            a_recorded_restore_intent_is_part_of_the_rules_history,
            a_failed_revert_is_settled_unless_the_caller_takes_it_over,
            a_released_lease_lets_the_retry_in_at_once,
            only_the_holder_can_release_a_lease,
            record_invalid_is_idempotent_and_an_invalid_record_is_not_an_event,
            a_reporting_run_never_takes_over_a_live_record,
        ]);
    };
}

/// The clauses of [`conformance::allowlist_store`](crate::conformance::allowlist_store),
/// handed to the macro `$callback` after `$args`.
#[doc(hidden)]
#[macro_export]
macro_rules! __allowlist_clauses {
    ($callback:ident!($($args:tt)*)) => {
        $crate::$callback!($($args)* [
            put_entries_are_listed_by_id_with_every_field_intact,
            an_expired_entry_is_still_listed,
            put_with_an_existing_id_replaces_in_place,
            remove_reports_whether_there_was_an_entry,
            a_removed_entry_put_again_is_back_in_its_place,
            put_many_inserts_new_ids_and_replaces_existing_ones,
            put_many_of_nothing_is_a_no_op,
        ]);
    };
}

/// The clauses of [`conformance::audit_reader`](crate::conformance::audit_reader), handed to
/// the macro `$callback` after `$args`.
#[doc(hidden)]
#[macro_export]
macro_rules! __audit_reader_clauses {
    ($callback:ident!($($args:tt)*)) => {
        $crate::$callback!($($args)* [
            query_by_account_lists_its_events_newest_first,
            query_by_event_id_finds_that_event_only,
            query_by_rule_finds_every_event_that_touched_it,
            query_by_group_matches_its_id_or_the_name_a_call_named,
            query_by_actor_matches_an_exact_arn_or_a_glob,
            query_by_outcomes_matches_any_of_them,
            query_finds_a_completed_event_by_its_final_outcome_only,
            query_never_finds_invalid_records,
            query_by_min_risk_is_decided_by_the_riskiest_change,
            query_by_account_and_region_finds_that_scope,
            query_time_bounds_are_inclusive_to_the_second,
            query_over_an_empty_time_range_finds_nothing,
            query_limit_keeps_the_newest_matches,
            raw_event_returns_the_stored_cloudtrail_record,
        ]);
    };
}

/// The clauses of [`conformance::allowlist_changes`](crate::conformance::allowlist_changes),
/// handed to the macro `$callback` after `$args`.
#[doc(hidden)]
#[macro_export]
macro_rules! __allowlist_changes_clauses {
    ($callback:ident!($($args:tt)*)) => {
        $crate::$callback!($($args)* [
            allowlist_changes_are_listed_newest_first,
            allowlist_changes_by_an_exact_who_are_theirs_only,
            allowlist_changes_by_someone_who_changed_nothing_are_none,
            allowlist_changes_limit_keeps_the_newest,
            allowlist_changes_are_bounded_by_since_and_until,
        ]);
    };
}

/// One test per clause of `$suite`: builds the store, then runs the clause on it twice.
///
/// The runtime is named by the path `sgguard_testkit::tokio` (`#[tokio::test]` takes its
/// crate as a string, where `$crate` is not expanded), so a store's tests need no `tokio`
/// of their own, only this crate under its own name.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($suite:ident; |$test:ident| $make:expr; [$($clause:ident),* $(,)?]) => {
        $(
            #[$crate::tokio::test(crate = "sgguard_testkit::tokio")]
            async fn $clause() {
                let $test: &'static str = concat!(module_path!(), "::", stringify!($clause));
                let Some(store) = $make.await else {
                    return;
                };
                // Twice on one store: a clause must not depend on an empty store.
                $crate::conformance::$suite::$clause(&store).await;
                $crate::conformance::$suite::$clause(&store).await;
            }
        )*
    };
    ($suite:ident; $make:expr; [$($clause:ident),* $(,)?]) => {
        $crate::__conformance_tests!($suite; |_test| $make; [$($clause),*]);
    };
}

/// `every_clause`: every clause of a suite once, in order, in the suite's module.
#[doc(hidden)]
#[macro_export]
macro_rules! __every_clause {
    (($($bound:tt)+) [$($clause:ident),* $(,)?]) => {
        /// Every clause of this suite once, in order: to fill a store with what the suite
        /// writes, so that another suite runs beside it.
        pub async fn every_clause<S: $($bound)+>(store: &S) {
            $($clause(store).await;)*
        }
    };
}
