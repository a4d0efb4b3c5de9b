//! What the framework costs per test under nextest, where every test is a process of its own:
//! `framework_*` tests take a gateway and four agents and do nothing else; `bare_*` tests are
//! plain `#[test]` fns doing the same nothing. `scripts/nextest-overhead.sh` runs each half and
//! divides the difference by the number of tests. Ignored in ordinary runs.

macro_rules! pairs {
    ($($framework:ident $bare:ident)*) => {$(
        #[persist_core::persistence_test(agents = ["AgentA", "AgentB", "AgentC", "AgentD"])]
        #[ignore = "measured by scripts/nextest-overhead.sh"]
        async fn $framework(gateway: persist_core::GatewayPersistenceAdapter) {
            let _ = gateway;
        }

        #[test]
        #[ignore = "measured by scripts/nextest-overhead.sh"]
        fn $bare() {}
    )*};
}

pairs! {
    framework_00 bare_00 framework_01 bare_01 framework_02 bare_02 framework_03 bare_03
    framework_04 bare_04 framework_05 bare_05 framework_06 bare_06 framework_07 bare_07
    framework_08 bare_08 framework_09 bare_09 framework_10 bare_10 framework_11 bare_11
    framework_12 bare_12 framework_13 bare_13 framework_14 bare_14 framework_15 bare_15
    framework_16 bare_16 framework_17 bare_17 framework_18 bare_18 framework_19 bare_19
    framework_20 bare_20 framework_21 bare_21 framework_22 bare_22 framework_23 bare_23
    framework_24 bare_24 framework_25 bare_25 framework_26 bare_26 framework_27 bare_27
    framework_28 bare_28 framework_29 bare_29 framework_30 bare_30 framework_31 bare_31
    framework_32 bare_32 framework_33 bare_33 framework_34 bare_34 framework_35 bare_35
    framework_36 bare_36 framework_37 bare_37 framework_38 bare_38 framework_39 bare_39
    framework_40 bare_40 framework_41 bare_41 framework_42 bare_42 framework_43 bare_43
    framework_44 bare_44 framework_45 bare_45 framework_46 bare_46 framework_47 bare_47
    framework_48 bare_48 framework_49 bare_49
}
