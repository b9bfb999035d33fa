import type { VectorInfo } from './api';
import { formatNumber } from './format';
import { isActive, isDefault, recommendedStrength, roundToStep, settingOf, sliderRange, type SteeringSettings, type VectorSetting } from './steering';
import { href } from './useHashRoute';

interface Props {
  vectors: VectorInfo[];
  settings: SteeringSettings;
  onChange: (name: string, setting: VectorSetting) => void;
  onResetAll: () => void;
}

/**
 * The registry's vectors, each with an on/off toggle, a strength slider and a layer; applies to
 * the next reply. A slider starts at the vector's recommended strength with the vector off, so
 * the registry's vectors do not all steer at once; moving the slider turns its vector on.
 */
export function VectorPanel({ vectors, settings, onChange, onResetAll }: Props) {
  const active = vectors.filter((v) => isActive(settings[v.name])).length;
  return (
    <aside className="panel vector-panel" data-testid="vector-panel">
      <div className="panel-top">
        <div className="panel-head">
          <h2>Steering vectors</h2>
          <button
            type="button"
            className="link"
            onClick={onResetAll}
            disabled={isDefault(vectors, settings)}
            title="Turn every vector off and put its slider back at the recommended strength"
            data-testid="reset-steering"
          >
            Reset all
          </button>
        </div>
        <p className="muted small" data-testid="steering-summary">
          {active === 0 ? 'No steering: replies come from the plain model.' : `${active} vector${active > 1 ? 's' : ''} active for the next reply.`}
        </p>
      </div>
      <div className="vector-list" data-testid="vector-list">
        {vectors.length === 0 && (
          <p className="muted">
            No vectors yet. <a href="#/create">Create one from a concept</a>.
          </p>
        )}
        {vectors.map((v) => (
          <VectorRow key={v.name} vector={v} conditions={vectors.filter((c) => c.condition !== undefined)} setting={settingOf(v, settings)} onChange={(s) => onChange(v.name, s)} />
        ))}
      </div>
    </aside>
  );
}

interface RowProps {
  vector: VectorInfo;
  /** Condition vectors (`vector condition fit`) the row can wait for. */
  conditions: VectorInfo[];
  setting: VectorSetting;
  onChange: (s: VectorSetting) => void;
}

function VectorRow({ vector, conditions, setting, onChange }: RowProps) {
  const { min, max, step } = sliderRange(vector);
  // Moving the slider or typing a strength means the person wants this vector: turn it on.
  const setStrength = (x: number): void => {
    if (Number.isFinite(x)) onChange({ ...setting, strength: roundToStep(x, step), enabled: true });
  };
  const rec = vector.recommended?.coefficient;
  const recStrength = recommendedStrength(vector);
  const enabled = setting.enabled === true;
  return (
    <div className={`vector-row${isActive(setting) ? ' active' : ''}`} data-testid={`vector-row-${vector.name}`} data-enabled={String(enabled)}>
      <div className="vector-row-head">
        <label className="vector-toggle small" title="Steer the next reply with this vector">
          <input
            type="checkbox"
            checked={enabled}
            onChange={(e) => onChange({ ...setting, enabled: e.target.checked })}
            aria-label={`use ${vector.name}`}
            data-testid={`vector-enabled-${vector.name}`}
          />{' '}
          use
        </label>{' '}
        <a href={href({ page: 'vector', name: vector.name })} className="vector-name">{vector.name}</a>
        {vector.concept !== undefined && <span className="muted small"> {vector.concept}</span>}
      </div>
      <div className={`slider-line${enabled ? '' : ' off'}`}>
        <input
          type="range"
          min={min}
          max={max}
          step={step}
          value={setting.strength}
          onChange={(e) => setStrength(Number(e.target.value))}
          aria-label={`${vector.name} strength`}
          data-testid={`strength-slider-${vector.name}`}
        />
        <input
          type="number"
          className="strength-number"
          min={min}
          max={max}
          step={step}
          value={setting.strength}
          onChange={(e) => setStrength(Number(e.target.value))}
          aria-label={`${vector.name} strength value`}
          data-testid={`strength-value-${vector.name}`}
        />
      </div>
      <div className="row-line small">
        <label>
          Layer{' '}
          <select value={setting.layer} onChange={(e) => onChange({ ...setting, layer: Number(e.target.value) })} data-testid={`layer-select-${vector.name}`}>
            {vector.layers.map((l) => (
              <option key={l} value={l}>{l}</option>
            ))}
          </select>
        </label>
        <span className="muted">{rec !== undefined ? `recommended ×${formatNumber(rec)}` : 'no recommendation'}</span>
        {setting.strength !== recStrength && (
          <button type="button" className="link" onClick={() => onChange({ ...setting, strength: recStrength })} data-testid={`reset-recommended-${vector.name}`}>
            {rec !== undefined && rec !== 0 ? 'reset to recommended' : `reset to ×${formatNumber(recStrength)}`}
          </button>
        )}
        {conditions.length > 0 && (
          <label title="Conditional steering: steer only prompts where this condition holds (read from the prompt)">
            only when{' '}
            <select
              value={setting.when ?? ''}
              onChange={(e) => onChange({ ...setting, when: e.target.value === '' ? undefined : e.target.value })}
              data-testid={`when-select-${vector.name}`}
            >
              <option value="">always</option>
              {conditions.map((c) => (
                <option key={c.name} value={c.name}>{c.name}</option>
              ))}
            </select>
          </label>
        )}
        {enabled && (
          <button type="button" className="link" onClick={() => onChange({ ...setting, enabled: false })} data-testid={`vector-off-${vector.name}`}>
            off
          </button>
        )}
      </div>
    </div>
  );
}
