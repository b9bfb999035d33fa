/** Steerer's library API: load a model, run hooked forwards, generate, score. */
export { loadModel, type LoadOptions } from './model/load.js';
export type { PackedWeights, PackedMatrix } from './model/packed-weights.js';
export type { LoadedModel, ModelSpec, ModelSource, WeightMap } from './model/spec.js';
export type { TextTokenizer } from './model/tokenizer.js';
export { renderChat, type ChatMessage, type ChatRole } from './model/chat-template.js';
export { HookedModel, type ForwardInput, type ForwardOutput, type LogitsMode, type RuntimeOptions } from './runtime/model.js';
export { openModel } from './runtime/open-model.js';
export { KvCache } from './runtime/kv-cache.js';
export type { Activation, EditFn, Hook, Intervention, PrepareContext, StepInfo } from './runtime/hooks.js';
export { addVector, steeringIntervention, OPERATORS, type SteeringOperator, type OperatorOptions } from './steering/operators.js';
export { replaceOperatorIntervention, REPLACE_OPERATORS, type ReplaceOperator, type ReplaceOperatorOptions } from './steering/replace-operators.js';
export { targetIntervention, type TargetOptions } from './steering/target-operator.js';
export type { ResolvedTarget } from './steering/target-spec.js';
export { replaceIntervention, type ReplaceValue, type ReplaceOptions } from './runtime/replace-activation.js';
export { HOOK_SITES, hookName, parseHookName, type HookPoint, type HookSite } from './graph/hook-points.js';
export type { PositionSelector } from './runtime/positions.js';
export { generate, generateBatch, type GenerateOptions, type GenerateResult } from './decoding/generate.js';
export { perplexity, scoreTokens, type PerplexityResult, type TokenLogprobs } from './runtime/score.js';
export { encodeChat } from './runtime/chat.js';
export { Sampler } from './runtime/sampling.js';
export { type SamplingOptions } from './runtime/sampling-options.js';
export { SteererError, ModelFileError, InvalidInputError } from './io/errors.js';

export { GeneratorError, type GenerationRequest, type TextGenerator } from './generators/text-generator.js';
export { localGenerator, type LocalGeneratorOptions } from './generators/local-generator.js';
export { openAiGenerator, type OpenAiGeneratorOptions } from './generators/openai-generator.js';
export { judgeResponses, judgePrompts, parseRating, harmonicScore, type JudgeItem, type JudgeScores, type JudgeField, type JudgeResult, type JudgeOptions } from './evals/judge.js';
export {
  requestConceptItems,
  filterItems,
  parseNumberedList,
  type ConceptItemKind,
  type ConceptItemsOptions,
  type GeneratedConceptItems,
  type ItemScorer,
  type ItemDropReason,
  type DroppedListItem,
  type FilterItemsOptions,
  type FilteredItems,
} from './concept/self-generated.js';
export { distinctN, longestRepeatedNgram, repetitionStats, wordsOf, type RepetitionStats, type Token as RepetitionToken } from './evals/repetition.js';
export {
  choiceLogprobs,
  evaluateMultipleChoice,
  type BenchmarkItem,
  type MultipleChoiceItem,
  type PartialChoiceItem,
  type ContinuationScore,
  type EvalBatchOptions,
  type MultipleChoiceOptions,
  type MultipleChoiceResult,
} from './evals/multiple-choice.js';
export { BENCHMARKS, benchmarkPath, readMultipleChoice, type BenchmarkName, type ReadBenchmarkOptions } from './evals/benchmark-files.js';
export { readCaaAb, evaluateCaaAb, type CaaAbItem, type CaaAbOptions, type CaaAbResult } from './evals/caa-ab.js';
export { relativeChange, retentionTable, type RetentionRow, type RetentionTableRow } from './evals/retention.js';
export { createConceptVector, type ConceptVectorOptions, type ConceptVectorResult, type AutoSelection, type CurvePoint, type ExamplePair } from './auto/concept-vector.js';
export type { DataSource } from './auto/concept-sources.js';
export { evaluateVector, capabilityRetention, type EvaluateVectorOptions } from './auto/evaluate-vector.js';
export { chooseStrength, searchGrid, presenceTarget, DEFAULT_RULE, STRENGTH_RULES, type StrengthCandidate, type StrengthRule, type StrengthChoice } from './auto/strength-choice.js';
export { StoryTrial, type TrialOutcome, type StoryTrialSettings } from './auto/story-trial.js';
export { countConceptHits, readLexicon, writeLexicon, type Lexicon } from './concept/lexicon.js';
export { buildLexicon } from './concept/lexicon-build.js';
export { SteeringTrial, DEFAULT_BUDGET, type CoherenceBudget, type TrialSettings, type SteeringOutcome } from './auto/steering-trial.js';
export { templateConceptData, type TemplateSourceOptions } from './concept/template-source.js';
export { generatedConceptData, type GeneratedSourceOptions } from './concept/generated-source.js';
export { loadConceptDataset, saveConceptDataset, type ConceptDataset, type ConceptItem } from './concept/concept-data.js';
export { defaultTemplates, type PersonaTemplate } from './concept/templates.js';
export { likelihoodScorer, projectionScorer, embeddingScorer, CONCEPT_METRICS, type ConceptMetric, type ConceptScorer, type ScoredOutput } from './evals/concept-score.js';
export { coherence, type CoherenceResult, type Continuation } from './evals/coherence.js';
export { renderReportHtml, type EvalReport, type CapabilityRow } from './report/eval-report.js';
export type { Sae, SaeConfig, SaeWeights, SaeActivation, SaeFormat, SaeTrainingSummary } from './sae/sae.js';
export { validateSae, checkSaeFitsModel, decoderRow } from './sae/sae.js';
export { loadSae, type SaeLoadOptions } from './sae/load-sae.js';
export { saveSae } from './sae/sae-file.js';
export { loadSaeLens, exportSaeLens } from './sae/saelens-format.js';
export { loadSparsify } from './sae/sparsify-format.js';
export { SaeRunner, type SparseCodes, type ReconstructionStats } from './sae/sae-runner.js';
export { trainSae, learningRateAt, type TrainSaeOptions, type TrainSaeResult, type StepMetrics } from './sae/train.js';
export { trainSaeOnStore, heldOutContexts, type StoreTrainingOptions, type StoreTrainingResult } from './sae/train-on-store.js';
export { evaluateSaeOnModel, type SaeModelEval, type SaeModelEvalOptions } from './sae/sae-eval.js';
export { saeSpliceIntervention, zeroAblationIntervention, featureClampIntervention, type FeatureValue } from './sae/sae-interventions.js';
export { featureAddIntervention } from './steering/sae-feature-add.js';
export { saeFilteredVector, featureEffect, type FilteredVector, type FilterOptions } from './sae/filter-vector.js';
export { readCorpus, generateCorpus, type CorpusDocument, type ReadCorpusOptions, type GenerateCorpusOptions } from './sae/corpus.js';
export { ActivationStore, estimateNorm, type BatchOptions } from './sae/activation-store.js';
export type { StoreManifest } from './sae/activation-store-manifest.js';
export { collectActivationStore, type CollectStoreOptions } from './sae/activation-store-writer.js';
export { liveActivationBatches, type LiveBatchOptions } from './sae/live-activations.js';
export { encodeText, featureActivationsOnText, type TokenFeatures, type FeatureActivation } from './sae/feature-activations.js';
export { saveFeatureIndex, loadFeatureIndex, type FeatureIndex, type FeatureSummary, type FeatureContext } from './sae/feature-index.js';
export { buildFeatureIndex, type FeatureIndexOptions } from './sae/feature-index-builder.js';
export { featureLogitEffects, featureLogitBias, type TokenWeight, type FeatureLogitEffect } from './sae/logit-lens.js';
export { contrastFeatures, featuresNearVector, type FeatureMatch, type VectorMatch, type ContrastOptions, type ContrastPooling, type ContrastRanking } from './sae/feature-search.js';
export { featureCard, featureCards, renderFeatureCardText, renderFeatureCardsHtml, type FeatureCard } from './sae/feature-card.js';
export { parseSteeringSpec, compileSteeringSpec, steeringSpecJsonSchema, type SteeringSpec, type SpecResolver, type FeatureInterventionSpec, type SteeringSpecInput, type ResolvedIntervention } from './steering/spec.js';
export { fitCondition, bestF1Threshold, type ConditionFit, type ConditionFitOptions, type LayerFit } from './steering/condition-fit.js';
export type { WhenSpec, ResolvedCondition } from './steering/condition.js';
export type { ConditionMeta } from './steering/vector.js';
export { fileResolver, compileSpecForGeneration, modelShape, type CompiledSpec } from './steering/resolve.js';
export { ModelMismatchError, modelMismatch, type ModelShape } from './steering/model-match.js';
export { compileChooser, type Chooser } from './steering/choose.js';
export { ChooseSchema, type ChooseSpec, type ToolsChoice, type ProbeChoice } from './steering/choose-spec.js';
export { ToolChooser, type ToolGenerateOptions, type ToolReply } from './steering/choose-tools.js';
export { ProbePolicy, type ProbeDecision, type ProbeReading } from './steering/choose-probe.js';
export type { ChoiceEvent } from './steering/tool-turn.js';
export { generateSwitching, type Switch, type SwitchController, type SwitchingOptions, type SwitchingResult } from './decoding/switching.js';
export { toolCallFormat, renderToolChat, type ChatTool, type ToolCall, type ToolCallFormat } from './model/chat-tools.js';
export type { LogitsProcessor } from './runtime/logits-processor.js';
export { PhraseBias, BanSequences, RepetitionPenalty, FrequencyPresencePenalty, type BiasedSequence } from './decoding/processors.js';
export { phraseTokenSequences } from './decoding/phrases.js';
export { DecodingSchema, compileDecoding, type DecodingSpec, type DecodingResolver } from './decoding/decoding-spec.js';
export { NO_DECODING, type DecodingPlan, type GuideRun, type CandidateScorer, type TokenRerank, type Selection } from './decoding/plan.js';
export { guidedLogits, type GuidanceTerm, type PlausibilityCut } from './decoding/guidance.js';
export { Lockstep, type StreamSetup } from './decoding/lockstep.js';
export { alignVocabularies, type VocabAlignment } from './decoding/vocab-align.js';
export { probeScorer } from './decoding/probe-scorer.js';
export { trainProbes, evaluateProbe, bestProbeLayer, type ProbeExample, type TrainProbesOptions, type TrainProbesResult } from './probes/train-probes.js';
export { probeScores, probeLogits, predictClasses, validateProbe, type LinearProbe, type ProbeMetrics, type ProbeTask, type ProbeLayerWeights, type ProbeTraining } from './probes/probe.js';
export { saveProbe, loadProbe, PROBE_FILE_FORMAT } from './probes/probe-file.js';
export { fitLogistic, fitRidge, predictFit, type LinearFit, type FitOptions, type Solver } from './probes/fit.js';
export { auroc, macroAuroc, r2 } from './probes/metrics.js';
export { readProbeData, readClassFiles } from './probes/probe-data.js';
export { createServer, type ServerOptions, type SteererServer } from './server/entry.js';
export { DEFAULT_LIMITS, type ServerLimits } from './server/context.js';
export { readUsersFile, parseUsers, type ServerUser } from './server/users.js';
export { rawAgreement, cohenKappa, spearman, midRanks, dimensionAgreement, preferenceOf, type Preference, type DimensionPair, type DimensionAgreement } from './evals/agreement.js';
export { fitComparisons, bradleyTerryRow, type ComparisonRow, type LogisticFit } from './evals/bradley-terry.js';
export { preferredStrength, type PreferredStrength, type PreferredStrengthOptions, type StrengthComparison } from './evals/preferred-strength.js';
export {
  strengthPreference,
  fitRatings,
  ratedComparisons,
  parseRatingsText,
  adoptedCoefficient,
  recommendationSources,
  PREFERENCE_DIMENSIONS,
  type PreferenceDimension,
  type StrengthPreference,
  type RatingsFit,
} from './evals/rating-preference.js';
// Steering vectors: contrastive data → extraction → files, and arithmetic on them.
export type { SteeringVector, VectorMeta, ModelIdentity, LayerDiagnostics, ExtractionMethod, ReadPosition } from './steering/vector.js';
export type { RecommendationAdoption } from './steering/vector.js';
export type { ContrastDataset, ContrastPair, DatasetOptions } from './steering/contrast-dataset.js';
export { readContrastFile, readSetFiles } from './steering/contrast-files.js';
export { pairsFromTexts, pairsFromCompletions, pairsFromCaa, pairsFromSets } from './steering/contrast-pairs.js';
export { extractVector, bestLayer, type ExtractOptions } from './steering/extract.js';
export { saveVector, loadVector, exportControlVectorGguf, importControlVectorGguf } from './steering/vector-file.js';
export { packVectorFile, readVectorBundle, readVectorBundleFile, unpackVectorBundle, BUNDLE_EXTENSION, VECTOR_BUNDLE_FORMAT, type VectorBundle, type BundledFile } from './steering/vector-bundle.js';
export { packBundle, readBundle, BUNDLE_LIMITS, type Bundle, type BundleManifest, type BundleMember } from './io/bundle.js';
export { combineWeighted, addVectors, subtractVectors, scaleVector, normalizeVector, projectOut, cosineSimilarity, cosineMatrix } from './steering/vector-math.js';
export { writeModelGguf, type GgufExportOptions } from './model/export-gguf.js';
// Exploration: the logit lens of texts and directions, activation patching.
export { directLogitWeights, headTopTokens, type TopTokens } from './runtime/unembed.js';
export { directionLogits, type DirectionLogits } from './explore/direction-logits.js';
export { logitLens, type LogitLens, type LensOptions, type LensRow, type LensToken } from './explore/logit-lens.js';
export { activationPatching, patchedLogits, resolveToken, DEFAULT_PATCH_SITES, type Patch, type PatchingOptions, type PatchingResult, type PatchingSite } from './explore/patching.js';
export { lensHtml } from './report/lens-report.js';
export { patchingSvg, patchingHtml } from './report/patching-report.js';
// Activation index: approximate-nearest-neighbour search over stored activations, shown in context.
export { ActivationIndex, buildActivationIndex, type IndexBuildOptions, type IndexSearchOptions } from './explore/activation-index.js';
export { searchIndex, indexContext, type IndexHit, type IndexContext, type IndexSearchResult, type SearchIndexOptions, type QueryKind } from './explore/index-search.js';
export { exactSearch, INDEX_METRICS, type IndexMetric, type Neighbours, type ExactSearchOptions } from './explore/exact-search.js';
export { matrixRows, storeRows, type RowSource } from './explore/row-source.js';
export type { IndexManifest } from './explore/index-files.js';
export { vectorQuery, featureQuery, textQuery, type IndexQuery, type TextPosition } from './explore/index-query.js';
export { renderSearchText, renderSearchHtml } from './explore/search-render.js';
export { explainVector, type VectorExplanation, type VectorContexts, type ExplainOptions } from './explore/explain-vector.js';
export { passagesAlong, type Passage, type PassageOptions } from './explore/passages.js';
export { similarVectors, type NamedVector, type SimilarVectors, type VectorLikeness } from './steering/similar-vectors.js';
export { explanationHtml } from './report/explain-report.js';
// Code metrics for code models: tree-sitter metrics, probe labels, simple-vs-complex pairs.
export { CodeParser, codeParser, languageForFile, CODE_LANGUAGES, MAX_SOURCE_CHARS, type CodeLanguage } from './code/parser.js';
export { codeMetrics, measureCode, type CodeMetrics, type FunctionMetrics, type SyntaxProblem } from './code/metrics.js';
export { complexifyPython, type Complexified } from './code/complexify.js';
export { readCodeTasks, codeDatasetPath, CODE_DATASETS, type CodeDataset, type CodeTask } from './code/datasets.js';
export { probeRecords, codePairs, metricValue, METRIC_LABELS, type MetricLabel, type ProbeRecord, type CodePair } from './code/code-data.js';
