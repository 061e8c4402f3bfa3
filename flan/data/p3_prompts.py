"""The 193 P3 prompts of the Flan Collection's T0-SF submixture, with their train example counts.

Source: google-research/FLAN flan/v2/constants_t0.py. T0-SF is every prompt of T0_TRAIN_TASK_METADATA
with `in_flan` False (its dataset is not already in Flan 2021), without the `_score_eval` variants
(the T0-SF filter of DEFAULT_MIXTURE_TASK_FILTERS in flan/v2/mixtures.py); the counts are the 'train'
entries of T0_TRAIN_TASK_SPLITS (the size of P3's train split of each prompt). Prompt names are P3's
directory names (bigscience/P3 data/<prompt>/).
"""

# (prompt name prefix, train examples, prompt suffixes); a prompt is f"{prefix}_{suffix}".
_GROUPS = (
    *((f"adversarial_qa_{model}", 10_000, ("answer_the_following_q", "based_on", "generate_question",
                                            "question_context_answer", "tell_what_it_is"))
      for model in ("dbert", "dbidaf", "droberta")),
    ("amazon_polarity", 3_600_000, ("Is_this_product_review_positive", "Is_this_review", "Is_this_review_negative",
                                    "User_recommend_this_product", "convey_negative_or_positive_sentiment",
                                    "flattering_or_not", "negative_or_positive_tone", "user_satisfied",
                                    "would_you_buy")),
    ("app_reviews", 288_065, ("categorize_rating_using_review", "convert_to_rating", "convert_to_star_rating",
                              "generate_review")),
    ("cos_e_v1.11", 9_741, ("aligned_with_common_sense", "description_question_option_id",
                            "description_question_option_text", "explain_why_human",
                            "generate_explanation_given_text", "i_think", "question_description_option_id",
                            "question_description_option_text", "question_option_description_id",
                            "question_option_description_text", "rationale")),
    ("dbpedia_14", 560_000, ("given_a_choice_of_categories_", "given_a_list_of_category_what_does_the_title_belong_to",
                             "given_list_what_category_does_the_paragraph_belong_to",
                             "pick_one_category_for_the_following_text")),
    ("dream", 6_116, ("answer_to_dialogue", "baseline", "generate_first_utterance", "generate_last_utterance",
                      "read_the_following_conversation_and_answer_the_question")),
    ("duorc_ParaphraseRC", 69_524, ("answer_question", "decide_worth_it", "extract_answer", "generate_question",
                                    "movie_director", "question_answering", "title_generation")),
    ("duorc_ParaphraseRC", 58_752, ("build_story_around_qa", "generate_question_by_answer")),
    ("duorc_SelfRC", 60_721, ("answer_question", "decide_worth_it", "extract_answer", "generate_question",
                              "movie_director", "question_answering", "title_generation")),
    ("duorc_SelfRC", 60_094, ("build_story_around_qa", "generate_question_by_answer")),
    ("kilt_tasks_hotpotqa", 88_869, ("combining_facts", "complex_question", "final_exam", "formulate",
                                     "straighforward_qa")),
    ("qasc", 8_134, ("is_correct_1", "is_correct_2", "qa_with_combined_facts_1", "qa_with_separated_facts_1",
                     "qa_with_separated_facts_2", "qa_with_separated_facts_3", "qa_with_separated_facts_4",
                     "qa_with_separated_facts_5")),
    ("quail", 10_246, ("context_description_question_answer_id", "context_description_question_answer_text",
                       "context_description_question_text", "context_question_answer_description_id",
                       "context_question_answer_description_text", "context_question_description_answer_id",
                       "context_question_description_answer_text", "context_question_description_text",
                       "description_context_question_answer_id", "description_context_question_answer_text",
                       "description_context_question_text", "no_prompt_id", "no_prompt_text")),
    ("quarel", 1_941, ("choose_between", "do_not_use", "heres_a_story", "logic_test", "testing_students")),
    ("quartz", 2_696, ("answer_question_based_on", "answer_question_below", "given_the_fact_answer_the_q",
                       "having_read_above_passage", "paragraph_question_plain_concat", "read_passage_below_choose",
                       "use_info_from_paragraph_question", "use_info_from_question_paragraph")),
    ("quoref", 19_399, ("Answer_Friend_Question", "Answer_Question_Given_Context", "Answer_Test",
                        "Context_Contains_Answer", "Find_Answer", "Found_Context_Online",
                        "Given_Context_Answer_Question", "Guess_Answer", "Guess_Title_For_Context",
                        "Read_And_Extract_", "What_Is_The_Answer")),
    *((f"race_{level}", count, ("Is_this_the_right_answer", "Read_the_article_and_answer_the_question_no_option_",
                                "Select_the_best_answer", "Select_the_best_answer_generate_span_",
                                "Select_the_best_answer_no_instructions_", "Taking_a_test",
                                "Write_a_multi_choice_question_for_the_following_article",
                                "Write_a_multi_choice_question_options_given_"))
      for level, count in (("high", 62_445), ("middle", 25_421))),
    ("ropes", 10_924, ("background_new_situation_answer", "background_situation_middle", "given_background_situation",
                       "new_situation_background_answer", "plain_background_situation", "plain_bottom_hint",
                       "plain_no_background", "prompt_beginning", "prompt_bottom_hint_beginning",
                       "prompt_bottom_no_hint", "prompt_mix", "read_background_situation")),
    ("sciq", 11_679, ("Direct_Question", "Direct_Question_Closed_Book_", "Multiple_Choice",
                      "Multiple_Choice_Closed_Book_", "Multiple_Choice_Question_First")),
    ("social_i_qa", 33_410, ("Check_if_a_random_answer_is_valid_or_not", "Generate_answer",
                             "Generate_the_question_from_the_answer", "I_was_wondering",
                             "Show_choices_and_generate_answer", "Show_choices_and_generate_index")),
    ("web_questions", 3_778, ("get_the_answer", "potential_correct_answer", "question_answer",
                              "short_general_knowledge_q", "whats_the_answer")),
    ("wiki_bio", 582_639, ("comprehension", "guess_person", "key_content", "what_content", "who")),
    ("wiki_hop_original", 43_738, ("choose_best_object_affirmative_1", "choose_best_object_affirmative_2",
                                   "choose_best_object_affirmative_3", "choose_best_object_interrogative_1",
                                   "choose_best_object_interrogative_2", "explain_relation", "generate_object",
                                   "generate_subject", "generate_subject_and_object")),
    ("wiki_qa", 20_360, ("Decide_good_answer", "Is_This_True_", "automatic_system", "exercise", "found_on_google")),
    ("wiki_qa", 1_040, ("Direct_Answer_to_Question", "Generate_Question_from_Topic", "Jeopardy_style",
                        "Topic_Prediction_Answer_Only", "Topic_Prediction_Question_Only",
                        "Topic_Prediction_Question_and_Answer_Pair")),
    ("wiqa", 29_808, ("does_the_supposed_perturbation_have_an_effect", "effect_with_label_answer",
                      "effect_with_string_answer", "what_is_the_final_step_of_the_following_process",
                      "what_is_the_missing_first_step", "what_might_be_the_first_step_of_the_process",
                      "what_might_be_the_last_step_of_the_process",
                      "which_of_the_following_is_the_supposed_perturbation")),
)

TRAIN_EXAMPLES: dict[str, int] = {f"{prefix}_{suffix}": count
                                  for prefix, count, suffixes in _GROUPS for suffix in suffixes}
PROMPTS: tuple[str, ...] = tuple(sorted(TRAIN_EXAMPLES))

# The P3 datasets these prompts come from (for grouping in reports).
DATASETS = ("adversarial_qa", "amazon_polarity", "app_reviews", "cos_e", "dbpedia_14", "dream", "duorc",
            "kilt_tasks_hotpotqa", "qasc", "quail", "quarel", "quartz", "quoref", "race", "ropes", "sciq",
            "social_i_qa", "web_questions", "wiki_bio", "wiki_hop", "wiki_qa", "wiqa")


def dataset_of(prompt: str) -> str:
  """The P3 dataset a prompt belongs to ("cos_e_v1.11_i_think" -> "cos_e")."""
  matches = [d for d in DATASETS if prompt.startswith(d + "_")]
  if not matches:
    raise ValueError(f"{prompt!r} is not a T0-SF prompt of a known P3 dataset")
  return max(matches, key=len)
