//! The shrunk counterexamples the model found on the code before issue 13's fixes
//! (/work/coord/model-findings.md), replayed exactly: each must keep the invariant once its
//! defect is fixed.

use sluice_testkit::memory::Fault;

use super::actors::Kind;
use super::run::{Action, Scenario, run};
use super::world::Shape;

const PLAIN: Shape = Shape {
    approval: false,
    ramp_down: false,
    failing_from: None,
};

fn call(who: u8) -> Action {
    Action::Call { who, fault: None }
}

fn faulty(who: u8, fault: Fault) -> Action {
    Action::Call {
        who,
        fault: Some(fault),
    }
}

fn replay(shape: Shape, actions: Vec<Action>, alarm_blocks_promotion: bool) {
    let scenario = Scenario {
        shape,
        actions,
        alarm_blocks_promotion,
    };
    if let Err(report) = run(&scenario) {
        panic!("{scenario:#?}\n{report}");
    }
}

#[test]
fn known_forced_promotion_during_an_abort() {
    use Action::*;
    let shape = Shape {
        approval: true,
        ..PLAIN
    };
    let actions = vec![
        Start(Kind::Abort),
        Run(8),
        call(103),
        call(187),
        call(19),
        Start(Kind::ForcePromote),
        call(80),
        call(44),
        Run(1),
    ];
    replay(shape, actions, false);
}

#[test]
fn known_abort_whose_write_fails() {
    use Action::*;
    let actions = vec![
        Run(8),
        Start(Kind::Abort),
        call(89),
        Start(Kind::Abort),
        call(40),
        faulty(1, Fault::Fail),
        call(1),
        call(7),
        call(19),
        faulty(5, Fault::Fail),
    ];
    replay(PLAIN, actions, false);
}

#[test]
fn known_late_shift_after_an_abort() {
    use Action::*;
    let actions = vec![
        Run(9),
        call(0),
        Run(11),
        call(0),
        faulty(0, Fault::Late),
        Start(Kind::Abort),
        call(43),
        call(19),
        call(109),
        call(91),
        Start(Kind::Alarm),
        Run(3),
    ];
    replay(PLAIN, actions, false);
}

#[test]
fn known_validate_dies_after_its_writes() {
    use Action::*;
    let actions = vec![
        call(0),
        call(0),
        call(0),
        Run(3),
        call(0),
        call(0),
        Crash { who: 0 },
    ];
    replay(PLAIN, actions, false);
}

#[test]
fn known_lease_runs_out_during_an_approval_wait() {
    use Action::*;
    let shape = Shape {
        approval: true,
        ..PLAIN
    };
    let actions = vec![
        Run(1),
        Run(6),
        Run(4),
        Run(3),
        Run(1),
        Run(7),
        Run(12),
        Run(9),
        Hours(2),
    ];
    replay(shape, actions, false);
}

#[test]
fn known_retried_ramp_down_goes_back_up() {
    use Action::*;
    let shape = Shape {
        ramp_down: true,
        failing_from: Some(1),
        ..PLAIN
    };
    let actions = vec![
        Run(8),
        Run(4),
        Run(11),
        Run(12),
        faulty(0, Fault::Fail),
        Run(1),
    ];
    replay(shape, actions, false);
}

#[test]
fn known_approve_answers_before_it_records() {
    use Action::*;
    let shape = Shape {
        approval: true,
        ..PLAIN
    };
    let actions = vec![
        Run(10),
        Run(11),
        Run(4),
        Start(Kind::Approve),
        Run(5),
        Run(1),
        Run(4),
        call(5),
        Run(7),
        call(19),
        call(31),
        Run(5),
    ];
    replay(shape, actions, false);
}

#[test]
fn known_missed_alarm_lets_finalize_promote() {
    use Action::*;
    let mut actions = vec![Run(6), AlarmUnheard];
    actions.extend(std::iter::repeat_n(Run(1), 7));
    replay(PLAIN, actions, true);
}

#[test]
fn known_validate_create_with_a_lost_answer() {
    use Action::*;
    replay(PLAIN, vec![Run(7), faulty(0, Fault::Lost)], false);
}
