"""The sequence-length study's report: `report.md` and the plots, written from the CSVs in its
workdir as they stand (after every phase, and within one), with a status line on what is still
running (`seq_len_scaling.StudyRun`)."""
import math
import os

import jax

from attn_jax.models.attention_choice import describe_choice
from attn_jax.studies.seq_len_scaling import (capability_report, frontier_report, plots,
                                              published_anchors, results_table, scaling_report,
                                              settings)
from attn_jax.training.run_record import report_platform

TASK_DESCRIPTIONS = {
    'first_token': 'remember the first token: the class is the first of L tokens, the other '
                   'L-1 are random distractors from the same alphabet (distance)',
    'mqar': 'multi-query associative recall: key-value pairs, then queries of those keys; the '
            'value is predicted at every query position (capacity: the pairs grow with L)',
    'parity': 'running parity: the parity of the prefix is the label at every position (state '
              'tracking); also evaluated at 2L and 4L',
    'recall': 'associative recall: key-value pairs, then a query key; the class is its value',
    'copy': 'delayed copy of the first symbols after a long blank stretch',
    'adding': 'the adding problem: sum of the two marked values of L',
}


def read_outputs(workdir: str) -> dict:
  """Every CSV of the study in `workdir` (empty lists for those not written yet)."""
  read = lambda name, columns: results_table.read_rows(os.path.join(workdir, name), columns)
  return dict(
      cost=read(results_table.RESULTS_FILE, results_table.COLUMNS),
      capability=read(results_table.CAPABILITY_FILE, results_table.CAPABILITY_COLUMNS),
      frontier=read(results_table.FRONTIER_FILE, results_table.CAPABILITY_COLUMNS),
      flow=read(results_table.GRAD_FLOW_FILE, capability_report.GRAD_FLOW_COLUMNS),
      decays=read(results_table.GRAD_DECAY_FILE, capability_report.GRAD_DECAY_COLUMNS),
      inference=read(results_table.INFERENCE_FILE, capability_report.INFERENCE_COLUMNS))


def write_outputs(config, workdir: str, plan, dataset, *, running: str, wall_s: float,
                  phase_s: dict, points_measured: int):
  """report.md and the plots from the workdir's CSVs; results.csv's `accuracy` column from the
  capability rows. `plan`: the study's `seq_len_scaling.Plan`; `dataset`: the cost phase's task
  at its first length; `running`: the phases still to come ('' once the study is complete)."""
  out = read_outputs(workdir)
  accuracy = capability_report.mean_final_accuracy(
      [r for r in out['capability'] if capability_report.trained(r)], 'first_token')
  cost = sorted(out['cost'], key=lambda r: results_table.sort_key(r, plan.models))
  for row in cost:
    row['accuracy'] = accuracy.get((row['model'], row['seq_len']), math.nan)
  results_table.write_rows(os.path.join(workdir, results_table.RESULTS_FILE), cost)
  all_models = tuple(dict.fromkeys([*plan.models, *(r['model'] for r in cost)]))
  names = plots.write_scaling_plots(cost, all_models, workdir,
                                    guessing_accuracy=dataset.guessing_accuracy) if cost else []
  capability_plots = write_capability_plots(workdir, out['capability'], out['flow'],
                                            out['inference'], models=all_models, config=config)
  study = study_summary(config, cost, dataset, plan.tasks, wall_s=wall_s, points_measured=points_measured,
                         phase_s=phase_s)
  study['running'] = running
  study['left_out'] = [m for m in settings.STUDY_MODELS if m not in all_models]
  sections = capability_report.capability_sections(
      out['capability'], tasks=plan.tasks, models=all_models, study=study, cost_rows=cost,
      decays=out['decays'], inference_rows=out['inference'], plots=capability_plots)
  frontier_task, frontier_lengths, _ = plan.frontier
  if frontier_lengths:
    out['frontier'] = frontier_report.with_matched_points(out['frontier'], out['capability'],
                                                          frontier_task, frontier_lengths)
  frontier_plots = []
  if any(r['status'] == 'ok' for r in out['frontier']):
    plots.frontier_plot(out['frontier'], all_models, os.path.join(workdir, 'frontier.png'),
                        solve_accuracy=config.study.solve_accuracy)
    frontier_plots = ['frontier.png']
  sections += frontier_report.frontier_section(out['frontier'], models=all_models, study=study,
                                               plots=frontier_plots)
  sections += published_anchors.anchor_lines(out['capability'], out['frontier'])
  scaling_report.write_report(os.path.join(workdir, 'report.md'), cost, models=all_models,
                              study=study, plots=names, sections=sections)


def study_summary(config, rows, dataset, tasks, *, wall_s: float, points_measured: int,
                   phase_s: dict) -> dict:
  """What the report says of the study's settings and run (`scaling_report.write_report`'s
  `study`): `rows` the cost rows, `dataset` the cost task, `tasks` the capability tasks."""
  devices = any(r['memory_source'] == 'device_peak' for r in rows)
  m, s, t = config.model, config.study, config.train
  attention = (f'auto attention ({describe_choice(jax.default_backend())})'
               if m.attention_impl == 'auto' else f'{m.attention_impl} attention')
  return dict(
      num_layers=s.num_layers, seeds=settings.seeds_of(config), learning_rates=s.learning_rates,
      pilot_steps=s.pilot_steps, parallel_members=s.parallel_members,
      solve_accuracy=s.solve_accuracy, check_every=s.check_every, max_steps=s.max_steps,
      gradient_flow_task=s.gradient_flow_task, task_descriptions=TASK_DESCRIPTIONS,
      frontier_widths=s.frontier_widths, frontier_seeds=s.frontier_seeds,
      per_task={t: dict(s.per_task[t]) for t in tasks if t in s.per_task},
      phase_s=phase_s,
      optimizer=(f'AdamW, weight decay {t.weight_decay}, {t.warmup_steps} warm-up steps then '
                 f'{t.lr_schedule} over {s.max_steps} steps, gradient clipping '
                 f'{t.grad_clip_norm or "off"}, dropout {m.dropout_rate}'),
      transformer_settings=(f'{m.num_heads} heads, mlp_dim = {s.mlp_ratio} x width, '
                            f'{m.positional} positions, {m.pooling} pooling for classification, '
                            f'{attention}'),
      platform=report_platform(),
      task=config.data.name, task_description=TASK_DESCRIPTIONS.get(config.data.name, ''),
      guessing_accuracy=dataset.guessing_accuracy,
      batch_size=config.train.batch_size, num_eval_examples=dataset.num_eval_examples(),
      target_params=config.study.target_params, param_tolerance=config.study.param_tolerance,
      model_settings=(f'{s.num_layers} layer(s); transformer: {m.num_heads} heads, mlp_dim = '
                      f'{s.mlp_ratio} x width, {m.positional} positions, '
                      f'{m.pooling} pooling, {attention}; dtype {m.dtype}'),
      timed_steps=config.study.timed_steps, warmup_steps=config.study.warmup_steps,
      memory_rule=("the device's peak_bytes_in_use where the point raised the high-water mark, "
                   "else XLA's estimate (column memory_source)" if devices else
                   "XLA's memory_analysis() of the compiled step: arguments + outputs + "
                   "temporaries - aliased bytes (this device reports no peak)"),
      fit_min_length=config.study.fit_min_length, wall_s=wall_s, points_measured=points_measured)


def write_capability_plots(workdir: str, rows, flow_rows, inference_rows, *, models,
                           config) -> list[str]:
  """The capability, steps-to-solve, extrapolation, gradient-flow and inference figures."""
  tasks = list(dict.fromkeys(r['task'] for r in rows if r['status'] == 'ok'))
  names = []
  if tasks:
    plots.capability_accuracy_plot(rows, tasks, models, os.path.join(workdir, 'accuracy.png'),
                                   solve_accuracy=config.study.solve_accuracy)
    plots.steps_to_solve_plot(rows, tasks, models, os.path.join(workdir, 'steps_to_solve.png'))
    names += ['accuracy.png', 'steps_to_solve.png']
  for task in tasks:
    if any(r['task'] == task and not math.isnan(float(r['accuracy_2x'])) for r in rows):
      name = f'extrapolation_{task}.png'
      plots.extrapolation_plot(rows, task, models, os.path.join(workdir, name))
      names.append(name)
  if flow_rows:
    plots.gradient_flow_plot(flow_rows, os.path.join(workdir, 'grad_flow.png'))
    names.append('grad_flow.png')
  if inference_rows:
    plots.inference_cost_plot(inference_rows, os.path.join(workdir, 'inference.png'))
    names.append('inference.png')
  return names
