import { LabIcon } from '@jupyterlab/ui-components';

/**
 * Merlin's hat. `jp-icon3` lets the theme recolour it, so it reads in light and dark themes;
 * the star is cut out of the hat (evenodd) rather than painted, for the same reason.
 */
const MERLIN_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <g class="jp-icon3" fill="#616161">
    <path fill-rule="evenodd" d="M12 1.5 L19 17.5 H5 Z M12.00 9.60 L12.65 11.31 L14.47 11.40 L13.05 12.54 L13.53 14.30 L12.00 13.30 L10.47 14.30 L10.95 12.54 L9.53 11.40 L11.35 11.31Z"/>
    <rect x="2.5" y="18.5" width="19" height="2.5" rx="1.25"/>
  </g>
</svg>`;

export const merlinIcon = new LabIcon({ name: 'merlin-jupyter:merlin', svgstr: MERLIN_SVG });

/** A model: a small cube. */
const MODEL_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16" fill="none">
  <g class="jp-icon3" stroke="#616161" stroke-width="1.8" stroke-linejoin="round">
    <path d="M12 3 20 7.5v9L12 21l-8-4.5v-9z"/><path d="M4 7.5 12 12l8-4.5M12 12v9"/>
  </g>
</svg>`;

export const modelIcon = new LabIcon({ name: 'merlin-jupyter:model', svgstr: MODEL_SVG });

/** A model endpoint: arrows splitting traffic. */
const TRAFFIC_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16" fill="none">
  <g class="jp-icon3" stroke="#616161" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round">
    <path d="M3 12h6l5-6h6M9 12l5 6h6M17 3l3 3-3 3M17 15l3 3-3 3"/>
  </g>
</svg>`;

export const trafficIcon = new LabIcon({ name: 'merlin-jupyter:traffic', svgstr: TRAFFIC_SVG });
