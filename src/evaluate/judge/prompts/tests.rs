use super::*;

fn correctness_of(query: &str, answer: &str, contexts: &[String]) -> Prompt {
    correctness(
        &Builtins::default(),
        &Fields {
            query,
            answer,
            contexts,
            ..Fields::default()
        },
    )
}

#[test]
fn prompts_carry_their_data_in_tags() {
    let p = correctness_of("q?", "a.", &["ctx one".into(), "ctx two".into()]);
    assert!(p.user.contains("<question>\nq?\n</question>"));
    assert!(
        p.user
            .contains("<document index=\"2\">\nctx two\n</document>")
    );
    assert!(p.user.contains("<answer>\na.\n</answer>"));
    assert!(p.system.contains("\"correct\" or \"incorrect\""));
    assert!(p.user.contains("source of truth"));
    let bare = correctness_of("q?", "a.", &[]);
    assert!(!bare.user.contains("<reference>"));
    let r = relevance("q?", "doc");
    assert!(r.user.contains("<document>\ndoc\n</document>"));
    assert_eq!(r.rails.iter().nth(1).unwrap().label, "irrelevant");
    let f = faithfulness("q?", "a.", &["c".into()]);
    assert!(f.system.contains("hallucinated"));
    let with_reference = correctness(
        &Builtins::default(),
        &Fields {
            query: "q?",
            answer: "a.",
            contexts: &["c".into()],
            reference: Some("the answer"),
            ..Fields::default()
        },
    );
    assert!(
        with_reference
            .user
            .contains("<expected_answer>\nthe answer\n</expected_answer>")
    );
}

#[test]
fn system_message_names_every_rail_and_its_score() {
    let binary = system(&Rails::binary("correct", "incorrect"));
    assert!(binary.contains(
        "{\"label\": \"correct\" or \"incorrect\", \"score\": 1 for \"correct\" or 0 for \"incorrect\""
    ));
    assert!(binary.ends_with("exactly one of \"correct\" and \"incorrect\"."));
    let graded = system(&Rails::new([("good", 1.0), ("ok", 0.5), ("bad", 0.0)]));
    assert!(graded.contains(
        "\"label\": \"good\", \"ok\" or \"bad\", \"score\": 1 for \"good\", 0.5 for \"ok\" or 0 for \"bad\""
    ));
}

#[test]
fn builtin_templates_parse() {
    // Builtins::default() would panic otherwise; it is what every engine uses.
    let b = Builtins::default();
    assert!(b.relevance.per_document() && !b.answer_relevance.per_document());
    let fields = Fields {
        query: "q",
        answer: "a",
        ..Fields::default()
    };
    assert_eq!(b.faithfulness.missing(&fields), Some(Var::Contexts));
    assert_eq!(
        b.correctness_with_reference.missing(&fields),
        Some(Var::Reference)
    );
    assert_eq!(b.answer_relevance.missing(&fields), None);
}

#[test]
fn the_readme_shows_every_builtin_template_as_it_is() {
    let readme = include_str!("../../../../README.md");
    for (name, template) in [
        ("CORRECTNESS", builtin::CORRECTNESS),
        (
            "CORRECTNESS_WITH_CONTEXTS",
            builtin::CORRECTNESS_WITH_CONTEXTS,
        ),
        (
            "CORRECTNESS_WITH_REFERENCE",
            builtin::CORRECTNESS_WITH_REFERENCE,
        ),
        ("FAITHFULNESS", builtin::FAITHFULNESS),
        ("RELEVANCE", builtin::RELEVANCE),
        ("ANSWER_RELEVANCE", builtin::ANSWER_RELEVANCE),
    ] {
        // In the README's "Metrics" section, indented in a list item's code block.
        let indented: Vec<String> = template
            .lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("  {l}")
                }
            })
            .collect();
        let block = format!("  ```\n{}\n  ```", indented.join("\n"));
        assert!(
            readme.contains(&block),
            "README.md does not show builtin::{name} as it is:\n{block}"
        );
    }
}
