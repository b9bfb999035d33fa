import type { VectorInfo } from './api';
import { defaultLayer, roundToStep, sliderRange, type SteeringSettings, type VectorSetting } from './steering';
import { href } from './useHashRoute';

interface Props {
  vectors: VectorInfo[];
  settings: SteeringSettings;
  onChange: (name: string, setting: VectorSetting) => void;
  onResetAll: () => void;
}

/** The registry's vectors, each with a strength slider and layer; applies to the next reply. */
export function VectorPanel({ vectors, settings, onChange, onResetAll }: Props) {
  const active = vectors.filter((v) => (settings[v.name]?.strength ?? 0) !== 0).length;
  return (
    <aside className="panel vector-panel" data-testid="vector-panel">
      <div className="panel-head">
        <h2>Steering vectors</h2>
        <button type="button" className="link" onClick={onResetAll} disabled={active === 0} data-testid="reset-steering">
          Reset all
        </button>
      </div>
      <p className="muted small" data-testid="steering-summary">
        {active === 0 ? 'No steering: replies come from the plain model.' : `${active} vector${active > 1 ? 's' : ''} active for the next reply.`}
      </p>
      {vectors.length === 0 && (
        <p className="muted">
          No vectors yet. <a href="#/create">Create one from a concept</a>.
        </p>
      )}
      {vectors.map((v) => (
        <VectorRow key={v.name} vector={v} setting={settings[v.name] ?? { strength: 0, layer: defaultLayer(v) }} onChange={(s) => onChange(v.name, s)} />
      ))}
    </aside>
  );
}

function VectorRow({ vector, setting, onChange }: { vector: VectorInfo; setting: VectorSetting; onChange: (s: VectorSetting) => void }) {
  const { min, max, step } = sliderRange(vector);
  const setStrength = (x: number): void => {
    if (Number.isFinite(x)) onChange({ ...setting, strength: roundToStep(x, step) });
  };
  const rec = vector.recommended?.coefficient;
  return (
    <div className={`vector-row${setting.strength !== 0 ? ' active' : ''}`} data-testid={`vector-row-${vector.name}`}>
      <div className="vector-row-head">
        <a href={href({ page: 'vector', name: vector.name })} className="vector-name">{vector.name}</a>
        {vector.concept !== undefined && <span className="muted small"> {vector.concept}</span>}
      </div>
      <div className="slider-line">
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
        <span className="muted">{rec !== undefined ? `recommended ×${rec}` : 'no recommendation'}</span>
        {setting.strength !== 0 && (
          <button type="button" className="link" onClick={() => onChange({ ...setting, strength: 0 })}>
            off
          </button>
        )}
      </div>
    </div>
  );
}
